"""How the shipped weights are made: synthetic material, rooms, the training loops.

Nothing on the tracker's load path imports this package (tests/test_architecture.py), so loading
the weights never pulls in scipy.signal or the synthesiser.
"""
