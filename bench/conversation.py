"""A learner's conversation with the bot, recorded: the real vkbottle Bot long-polling the fake
VK server (tests/fakevk), a real worker process with the shipped model, and the bundled sample
clip (data/sample/sample.mp4: the first phrase of «Ода к радости» in D major, its intonation
drawn in +-45 cents).

What a Russian learner types and reads, in order: /помощь's first lines, the phrase typed in
solfège without octaves, the clip sent as a file, and the bot's answer to it. The transcript goes to
bench/results/conversation.md; README.rst quotes it, so what the README shows is what the bot
says. Run: ``python -m bench.conversation`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from bench.results_io import publish
from tests.fakevk import FakeVK, doc_attachment
from tests.fakevk.harness import WorkerProcess, make_settings, running_bot

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "sample.mp4"
PEER = 4242
TUNE = "фа# фа# соль ля ля соль фа# ми ре ре ми фа# фа# ми ми"
HELP_LINES = 4  # /помощь is long; the transcript shows its start


async def record(tmp: Path) -> list[tuple[str, str]]:
    """(who, text) lines of one conversation, as the fake VK received them."""
    fake = await FakeVK(group_id=77).start()
    lines: list[tuple[str, str]] = []
    try:
        settings = make_settings(tmp, fake)
        worker = WorkerProcess(settings, tmp / "w", tmp / "worker.log").start()
        try:
            async with running_bot(settings, fake):

                async def say(msg_id: int, text: str) -> list[str]:
                    lines.append(("Ученик", text))
                    await fake.push_message(peer_id=PEER, message_id=msg_id, text=text)
                    await fake.wait_for(lambda: bool(fake.replies_to(PEER, msg_id)), timeout_s=60)
                    return [m.text for m in fake.replies_to(PEER, msg_id)]

                help_text = (await say(1, "/помощь"))[0]
                lines.append(("Бот", "\n".join(help_text.splitlines()[:HELP_LINES]) + "\n…"))
                for text in await say(2, "/мелодия " + TUNE):
                    lines.append(("Бот", text))
                url = fake.add_file("sample.mp4", SAMPLE.read_bytes())
                attachment = doc_attachment(url, title="sample.mp4", size=SAMPLE.stat().st_size)
                lines.append(("Ученик", "📎 sample.mp4"))
                await fake.push_message(peer_id=PEER, message_id=3, attachments=[attachment])

                def answered() -> bool:
                    sent = sorted(fake.replies_to(PEER, 3), key=lambda m: m.message_id)
                    return len(sent) >= 2 and bool(sent[0].edits) and "✅" in sent[0].edits[-1]

                await fake.wait_for(answered, timeout_s=300)
                ack, *rest = sorted(fake.replies_to(PEER, 3), key=lambda m: m.message_id)
                lines.append(("Бот", ack.edits[-1] if ack.edits else ack.text))
                lines += [("Бот", m.text) for m in rest]
        finally:
            await asyncio.to_thread(worker.stop)
    finally:
        await fake.stop()
    return lines


def render(lines: list[tuple[str, str]]) -> str:
    out = [
        "# A conversation with the bot (bench/conversation.py)",
        "",
        "The real bot and worker against the fake VK, the bundled sample clip; Russian, the "
        "default language. Each message as VK received it.",
        "",
    ]
    for who, text in lines:
        out += [f"**{who}:**", "", "```", text, "```", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0]).parse_args(argv)
    os.environ.setdefault("SMASK_LANGUAGE", "ru")
    with tempfile.TemporaryDirectory(prefix="smask-conversation-") as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # vkbottle keeps its polling state under ./.vkbottle/
        try:
            lines = asyncio.run(record(Path(tmp)))
        finally:
            os.chdir(cwd)
    publish("conversation", render(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
