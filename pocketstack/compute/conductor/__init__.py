"""compute/conductor: the reconciler that turns instance intent into work on compute hosts.

``conductor.py`` (the :class:`~.conductor.Conductor`: wiring, dispatch, work queue, loops),
``family.py`` (the step and the task-family base class), one module per task family
(``build``, ``power``, ``resize``, ``shelve``, ``delete``), ``hosts.py`` and
``power_sync.py`` (heartbeats), ``recovery.py`` (restarts and deadlines), ``console.py``,
``workqueue.py``.
"""
