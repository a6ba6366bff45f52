"""The learner's page and the VK Mini App, served on aiohttp (issue 25).

``smask bot`` runs it beside the long poll when SMASK_WEB_PORT is set; ``smask web`` runs it
alone. It only reads the history folder (bot/history/), so any number of web processes can
serve one shared folder behind the operator's HTTPS reverse proxy.
"""
