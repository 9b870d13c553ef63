"""`recursectl audit`: where an account's recursion is unsafe, and what fixes it.

scan (AWS reads, through `recursectl.aws`) -> facts (one `FunctionFacts` per function) ->
rules (pure: facts -> findings, each with its reason and the one command that fixes it) ->
report (the table and the JSON document). `policy` evaluates IAM documents (pure);
`needs` is the minimal IAM policy the audit itself needs.
"""
