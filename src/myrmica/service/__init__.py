"""The job service: the one interface every dialect (Formicary, Tork, …) calls for jobs."""
