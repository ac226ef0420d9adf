# nbgrader's configuration for the course's graded exercises; this folder is the nbgrader course directory.
# `python -m d2l_bn.exercises build|grade` read this file too (README: Graded exercises).
c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "d2l-bn"
# Instructor notebooks: source/<chapter>/<chapter>_exercises.ipynb. Generated (not committed): release/ (student
# versions), submitted/, autograded/, feedback/ and gradebook.db.
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# What a student finds in place of each answer.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# Every check of a cell runs in well under a second; the limit only stops a student's endless loop.
c.Execute.timeout = 300
