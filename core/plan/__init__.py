"""Deciding: which sounds are notes of the performance, where each note should go, and how far.

Notes are cut from the pitch track (:mod:`core.plan.segment`), the talk and hum around the music
dropped (:mod:`core.plan.performance`), targets chosen in a key (:mod:`core.plan.scales`,
:mod:`core.plan.targets`), and :mod:`core.plan.planner` joins them, with the learner's tune when
there is one, into the plan the shifter follows.
"""
