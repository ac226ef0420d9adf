"""The JavaScript the deck check (``slides_check``) runs inside a deck: what "fits" and "visible" mean, measured.

Sizes are the slide's own CSS pixels (``offsetHeight``, ``scrollWidth``: unaffected by reveal.js's scaling);
positions (``getBoundingClientRect``) are the window's and are divided by reveal.js's scale where they are
compared with slide sizes.
"""

# Run in the page once it has loaded: wait for what changes a slide's height after load (typeset math, images
# decoded from data: URIs, web fonts), then let reveal.js lay the slide out again.
SETTLE_JS = r"""async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }  // missing: a load error, reported
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
  await document.fonts.ready;
  Reveal.layout();
}"""

# Run after every press of →: the current slide, measured in its own pixels (offset sizes ignore the scaling).
MEASURE_JS = r"""async () => {
  await document.fonts.ready;  // a font first used on this slide changes its height
  const slide = Reveal.getCurrentSlide(), indices = Reveal.getIndices();
  const hidden = el => !!el.closest('.fragment:not(.visible), aside.notes, script, style, mjx-assistive-mml');
  const onSlide = el => !el.closest('aside.notes');
  const cells = [...slide.querySelectorAll('.jp-Cell')].filter(onSlide);
  const heading = [...slide.querySelectorAll('h1, h2, h3, h4, h5, h6')].find(onSlide);
  const wide = [...slide.querySelectorAll('pre')].filter(onSlide).map(pre => ({
      px: pre.scrollWidth - pre.clientWidth,
      what: pre.closest('.jp-InputArea') ? 'code' : 'output',
      cell: ((pre.closest('.jp-Cell') || {}).id || '').replace('cell-id=', '')})).filter(w => w.px > 0);
  const code = [...slide.querySelectorAll('.jp-InputArea-editor pre')].filter(onSlide)
      .map(pre => pre.textContent.replace(/\n+$/, '').split('\n'));
  // What the room sees: the visible text, and the pictures with their sizes.
  const texts = [], walker = document.createTreeWalker(slide, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    if (text && !hidden(walker.currentNode.parentElement)) texts.push(text);
  }
  const media = [...slide.querySelectorAll('img, svg, canvas, video, iframe')]
      .filter(el => !hidden(el) && el.getBoundingClientRect().width * el.getBoundingClientRect().height > 0);
  const figures = [...slide.querySelectorAll('.jp-OutputArea-output img, .jp-OutputArea-output > svg')]
      .filter(el => !hidden(el));
  const area = figures.map(el => el.getBoundingClientRect()).reduce((sum, r) => sum + r.width * r.height, 0)
      / (Reveal.getScale() ** 2);
  // The fragments this press revealed, and whether any part of them is inside the slide's screen (the slide's
  // box, not the window: the slide may still be gliding in from its transition).
  const screen = slide.getBoundingClientRect();
  const shown = [...slide.querySelectorAll('.fragment.current-fragment')].filter(onSlide);
  const screenBottom = screen.top + Reveal.getConfig().height * Reveal.getScale();
  const onScreen = shown.some(el => { const r = el.getBoundingClientRect();
      return r.height > 0 && r.bottom > screen.top && r.top < screenBottom; });
  const config = Reveal.getConfig();
  return {
    h: indices.h, v: indices.v, f: indices.f === undefined ? null : indices.f, indices: JSON.stringify(indices),
    number: Reveal.getSlidePastCount() + 1,
    title: heading ? heading.textContent.replace(/\u00b6$/, '').trim() : '',
    cells: cells.map(c => c.id.replace('cell-id=', '')),
    height: slide.scrollHeight, slideWidth: slide.scrollWidth, wide: wide,
    hasHeading: !!heading,
    opensWithCode: cells.length > 0 && cells[0].classList.contains('jp-CodeCell')
                   && !!cells[0].querySelector('.jp-InputArea-editor'),
    signature: texts.join('\n') + (media.length ? '\n[' + media.length + ' picture(s)]' : ''),
    codeLines: code.reduce((n, lines) => n + lines.length, 0),
    codeChars: Math.max(0, ...code.flat().map(line => line.length)),
    figure: area / (config.width * config.height),
    fragmentOffScreen: shown.length > 0 && !onScreen
  };
}"""
