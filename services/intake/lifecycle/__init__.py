"""The lifecycle commands people take on a case (受理审查, 调查处理, 答复, 延期, 回访办结,
复核): runner.py runs every one the same way and holds the table from action to decide
function; acceptance.py, handling.py and closure.py hold the decide functions by phase."""
