"""The Linux kernel, as the cloud's agents and the ``namespace`` driver use it: names of every
object the cloud makes (:mod:`.names`), commands run in its namespaces (:mod:`.run`),
background processes it owns (:mod:`.procs`) and removal of all of it (:mod:`.cleanup`)."""
