"""The ``smask`` command line: joins core's media commands with the bot's service commands.

It lives outside core/ because core never imports bot/, yet one entry point offers both.
"""
