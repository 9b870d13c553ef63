"""Building the deployment package: Python and Node packagers, sources, requirements, wheels for
the target, runtimes."""
