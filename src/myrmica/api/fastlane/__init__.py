"""The Fastlane dialect under ``/fastlane`` (spec/fastlane.md): tasks, jobs and their executions on
the DOCKER executor; it only translates, through the job service."""
