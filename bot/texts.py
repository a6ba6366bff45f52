"""Every sentence a user reads, Russian first, English second, looked up by key.

Wording lives here only, so handlers and workers deal in keys and codes (``core.errors``
codes map one to one onto keys) and tests can check that no code is left without a message.
"""

from __future__ import annotations

import string
from typing import Any

from core.errors import INPUT_ERROR_CODES

DEFAULT_LANG = "ru"

TEXTS: dict[str, dict[str, str]] = {
    # --- the clip's journey ---
    "queued": {
        "ru": (
            "🎵 Принято! Ваш клип в очереди, позиция: {position}. Я напишу, когда всё будет готово."
        ),
        "en": (
            "🎵 Got it! Your clip is in the queue, position {position}. I'll write when it's ready."
        ),
    },
    "queued_voice": {
        "ru": "🎤 Слышу! Голосовое в очереди, позиция: {position}. Скоро пришлю чистую версию.",
        "en": "🎤 Got it! Your voice message is in the queue, position {position}.",
    },
    "result_voice": {
        "ru": "Ваша запись после настройки 🎤 — голосовое выше.\n\n{summary}",
        "en": "Your take, in tune 🎤: the voice message above.\n\n{summary}",
    },
    "result_audio": {
        "ru": "Исправленная запись 🎧\n\n{summary}",
        "en": "Your corrected recording 🎧\n\n{summary}",
    },
    "voice_nothing_to_correct": {
        "ru": (
            "Я послушал — в записи тишина, исправлять нечего 🙂 "
            "Спойте или сыграйте мелодию хотя бы пару секунд, и я помогу!"
        ),
        "en": (
            "I listened: the recording is silent, so there's nothing to correct 🙂 "
            "Sing or play a melody for a couple of seconds and I'll help!"
        ),
    },
    "nothing_ack": {
        "ru": "🎧 Послушал — исправлять нечего.",
        "en": "🎧 Listened: nothing to correct.",
    },
    "already_queued": {
        "ru": "Этот клип уже в работе (позиция {position}).",
        "en": "This clip is already being worked on (position {position}).",
    },
    "stage_downloading": {
        "ru": "⬇️ Скачиваю клип…",
        "en": "⬇️ Downloading your clip…",
    },
    "stage_analysing": {
        "ru": "🎼 Слушаю и определяю ноты…",
        "en": "🎼 Listening and finding the notes…",
    },
    "stage_retuning": {
        "ru": "🎚 Подтягиваю фальшивые ноты…",
        "en": "🎚 Pulling the out-of-tune notes to pitch…",
    },
    "stage_uploading": {
        "ru": "⬆️ Отправляю результат…",
        "en": "⬆️ Uploading the result…",
    },
    "done_ack": {
        "ru": "✅ Готово! Результат — в ответе ниже.",
        "en": "✅ Done! The result is in the reply below.",
    },
    "result": {
        "ru": "Исправленный клип 🎬\n\n{summary}",
        "en": "Your corrected clip 🎬\n\n{summary}",
    },
    "failed_ack": {
        "ru": "❌ Не получилось обработать клип.",
        "en": "❌ Could not process the clip.",
    },
    "cancelled_ack": {
        "ru": "🚫 Отменено.",
        "en": "🚫 Cancelled.",
    },
    # --- a message with several clips ---
    "queued_part": {
        "ru": "🎵 Принято: «{title}» в очереди, позиция: {position}.",
        "en": "🎵 Got it: “{title}” is in the queue, position {position}.",
    },
    "clips_left_out": {
        "ru": "Эти файлы я не взял в работу:\n{clips}",
        "en": "I did not take these files:\n{clips}",
    },
    "clip_left_out_line": {
        "ru": "• «{title}» — {reason}",
        "en": "• “{title}”: {reason}",
    },
    "voice_title": {"ru": "голосовое", "en": "voice message"},
    "video_title": {"ru": "видео", "en": "video"},
    # --- how to send a clip ---
    "video_hint": {
        "ru": (
            "Видео, отправленное как «видео», бот скачать не может 😔\n"
            "Пожалуйста, отправьте его как файл: скрепка 📎 → Файл → выберите видео. "
            "Или просто запишите голосовое сообщение 🎤"
        ),
        "en": (
            "A clip sent as a *video* can't be downloaded by a community bot 😔\n"
            "Please send it as a file: paperclip 📎 → File → choose the video. "
            "Or simply record a voice message 🎤"
        ),
    },
    # --- refusals before download ---
    "host_not_allowed": {
        "ru": "Этот файл лежит не на серверах ВКонтакте, я не могу его скачать.",
        "en": "This file is not hosted by VK, so I can't download it.",
    },
    "declared_too_large": {
        "ru": "Файл слишком большой ({size_mb} МБ). Максимум — {max_mb} МБ.",
        "en": "The file is too large ({size_mb} MB). The limit is {max_mb} MB.",
    },
    "download_failed": {
        "ru": "Не удалось скачать файл. Попробуйте отправить его ещё раз.",
        "en": "I couldn't download the file. Please try sending it again.",
    },
    # --- one message per core.errors code ---
    "error_empty": {
        "ru": "Файл пустой — в нём нет ни одного байта.",
        "en": "The file is empty.",
    },
    "error_not_media": {
        "ru": "Это не видео и не аудио. Пришлите клип в формате MP4 или MOV.",
        "en": "This is not a video or audio file. Please send an MP4 or MOV clip.",
    },
    "error_web_page": {
        "ru": (
            "Вместо записи пришла веб-страница 🤔 Наверное, ссылка устарела. "
            "Пришлите запись ещё раз, пожалуйста."
        ),
        "en": (
            "I got a web page instead of the recording 🤔 The link may have expired. "
            "Please send it again."
        ),
    },
    "error_unsupported_container": {
        "ru": (
            "Такой формат (например, WebM, MKV или AVI) я не принимаю. Пришлите голосовое "
            "сообщение, видео MP4/MOV или аудио OGG, MP3, M4A, WAV, FLAC."
        ),
        "en": (
            "I don't accept this format (WebM, MKV, AVI...). Please send a voice message, an "
            "MP4/MOV video or OGG, MP3, M4A, WAV, FLAC audio."
        ),
    },
    "error_video_in_audio": {
        "ru": "В аудиофайле спрятано видео. Видео лучше прислать файлом MP4 или MOV.",
        "en": "This audio file also hides a video. Please send videos as MP4 or MOV files.",
    },
    "error_chained_stream": {
        "ru": "В файле склеены несколько записей. Пришлите, пожалуйста, одну запись.",
        "en": "This file holds several recordings glued together. Please send just one.",
    },
    "error_oversized_tag": {
        "ru": "В MP3 огромный блок с обложкой и тегами. Сохраните файл без них и пришлите снова.",
        "en": "The MP3 carries a huge tag (cover art, lyrics). Save it without and resend.",
    },
    "error_length_mismatch": {
        "ru": (
            "Файл повреждён: в заголовке указана одна длина, а звука в нём другая. "
            "Попробуйте сохранить его заново."
        ),
        "en": (
            "The file is damaged: its header promises a different length than the sound "
            "inside. Please save it again."
        ),
    },
    "error_not_video": {
        "ru": "В файле есть звук, но нет картинки. Пришлите видеоклип (MP4 или MOV).",
        "en": "The file has sound but no picture. Please send a video clip (MP4 or MOV).",
    },
    "error_corrupt": {
        "ru": "Файл повреждён или обрезан — его не получается прочитать.",
        "en": "The file is damaged or truncated and can't be read.",
    },
    "error_hostile": {
        "ru": "Этот файл похож на список ссылок, а не на видео. Такие файлы я не открываю.",
        "en": "This file looks like a playlist or link list, not a video. I don't open those.",
    },
    "error_no_audio": {
        "ru": "В клипе нет звуковой дорожки — нечего исправлять.",
        "en": "The clip has no sound track, so there is nothing to correct.",
    },
    "error_too_large": {
        "ru": "Файл слишком большой. Пришлите клип поменьше.",
        "en": "The file is too large. Please send a smaller clip.",
    },
    "error_too_long": {
        "ru": "Клип слишком длинный. Пришлите фрагмент покороче.",
        "en": "The clip is too long. Please send a shorter part.",
    },
    "error_too_big_format": {
        "ru": (
            "Слишком большое разрешение, число каналов или частота звука. "
            "Уменьшите и пришлите снова."
        ),
        "en": (
            "The resolution, channel count or sample rate is too high. Please reduce it and resend."
        ),
    },
    "error_too_many_streams": {
        "ru": (
            "В файле слишком много дорожек, а камера или телефон пишут две-три. Сохраните запись "
            "заново с одной звуковой дорожкой и пришлите снова."
        ),
        "en": (
            "This file holds too many tracks, where a camera or phone writes two or three. "
            "Please save the recording again with one sound track and resend."
        ),
    },
    "error_silent": {
        "ru": "В клипе тишина — я не слышу ни одной ноты.",
        "en": "The clip is silent; I can't hear any notes.",
    },
    "error_unpitched": {
        "ru": "Я не нашёл в клипе выдержанных нот: слышен только шум или ударные.",
        "en": "I found no sustained notes in the clip: only noise or drums.",
    },
    "error_speech": {
        "ru": "Я слышу речь, а не мелодию 🙂 Спойте или сыграйте мелодию, и я подстрою её ноты.",
        "en": "I hear speech, not a melody 🙂 Sing or play a tune and I'll tune its notes.",
    },
    "error_too_short": {
        "ru": (
            "Запись слишком короткая: выдержанных нот в ней меньше полсекунды. "
            "Спойте или сыграйте мелодию хотя бы пару секунд."
        ),
        "en": (
            "The recording is too short: less than half a second of held notes. "
            "Sing or play a melody for a couple of seconds."
        ),
    },
    "error_score_unreadable": {
        "ru": (
            "Не получается прочитать ноты в этом файле 😔 Пришлите MIDI (.mid) или MusicXML "
            "(.musicxml, .mxl), например сохранённый из MuseScore."
        ),
        "en": (
            "I can't read the notes in this file 😔 Please send a MIDI (.mid) or MusicXML "
            "(.musicxml, .mxl) file, for example one saved from MuseScore."
        ),
    },
    "error_score_hostile": {
        "ru": (
            "Этот файл с нотами устроен подозрительно (например, это «zip-бомба»), "
            "я его не открываю."
        ),
        "en": "This score file looks built to cause harm (a zip bomb?), so I won't open it.",
    },
    "error_score_too_large": {
        "ru": "В этих нотах слишком много всего (больше 5000 нот). Пришлите мелодию покороче.",
        "en": "This score is too big (more than 5,000 notes). Please send a shorter melody.",
    },
    "error_score_file_too_large": {
        "ru": (
            "Этот файл с нотами слишком большой или сложный, я не могу его прочитать. "
            "Пришлите только мелодию, например одну партию из MuseScore."
        ),
        "en": (
            "This score file is too big or too complex for me to read. Please send just the "
            "melody, for example a single part saved from MuseScore."
        ),
    },
    "error_score_empty": {
        "ru": "В этих нотах нет ни одной ноты мелодии (только паузы или ударные).",
        "en": "This score has no melody notes (only rests or drums).",
    },
    "error_score_unknown": {
        "ru": (
            "Не нашёл такой песни и не понял ноты. Напишите ноты так: /мелодия ми1 ре1 до1 "
            "(цифра — октава: ми1 — ми первой октавы) или выберите песню: /мелодии"
        ),
        "en": (
            "I don't know that tune and couldn't read it as notes. Write notes like "
            "/tune E4 D4 C4 or pick a tune: /tunes"
        ),
    },
    "error_bad_input": {
        "ru": "Этот файл не получается обработать.",
        "en": "This file can't be processed.",
    },
    "error_processing_failed": {
        "ru": "Что-то пошло не так на нашей стороне. Попробуйте позже — мы уже разбираемся.",
        "en": "Something went wrong on our side. Please try again later.",
    },
    "error_worker_crashed": {
        "ru": (
            "Этот клип несколько раз останавливал нашу программу обработки, поэтому я его "
            "отложил 😔 Попробуйте прислать файл покороче или другой — всё получится!"
        ),
        "en": (
            "This clip made our processing program crash several times, so I set it aside 😔 "
            "Please try a shorter or different file — it will work out!"
        ),
    },
    "error_server_storage": {
        "ru": (
            "Не получилось обработать ваш файл: на нашем сервере сбой с местом для работы. "
            "Файл тут ни при чём 🙏 Пришлите его, пожалуйста, ещё раз чуть позже — мы уже "
            "чиним."
        ),
        "en": (
            "I couldn't process your file: our server has trouble with its working space. "
            "Your file is fine 🙏 Please send it again a little later — we're fixing it."
        ),
    },
    "error_job_unreadable": {
        "ru": (
            "Простите, ваш файл потерялся в очереди из-за сбоя на нашей стороне — файл тут ни "
            "при чём 🙏 Пришлите его, пожалуйста, ещё раз."
        ),
        "en": (
            "Sorry, your file got lost in our queue because of a fault on our side — your "
            "file is fine 🙏 Please send it again."
        ),
    },
    "error_cancelled": {
        "ru": "Обработка отменена.",
        "en": "Processing was cancelled.",
    },
    # --- limits ---
    "limit_queue_full": {
        "ru": (
            "Сейчас очень много клипов в очереди. Пожалуйста, попробуйте через несколько минут 🙏"
        ),
        "en": "The queue is full right now. Please try again in a few minutes 🙏",
    },
    "limit_user_waiting": {
        "ru": "У вас уже {limit} клипа в работе. Дождитесь результата и пришлите следующий.",
        "en": "You already have {limit} clips in progress. Please wait for them first.",
    },
    "limit_user_hourly": {
        "ru": (
            "Вы прислали {limit} клипов за последний час. "
            "Давайте сделаем перерыв и продолжим позже."
        ),
        "en": "You've sent {limit} clips in the last hour. Let's take a break and continue later.",
    },
    # --- commands ---
    "help": {
        "ru": (
            "Привет! Я — Symphonic Masks 🎭\n"
            "Спойте или сыграйте мелодию — я подтяну фальшивые ноты, не меняя длительность, "
            "тембр и картинку, и пришлю отчёт об интонации.\n\n"
            "Как отправить:\n"
            "🎤 голосовое сообщение — зажмите микрофон и пойте;\n"
            "🎬 видео файлом — скрепка 📎 → Файл → видео (MP4 или MOV);\n"
            "🎧 аудиофайл — скрепка 📎 → Файл (OGG, MP3, M4A, WAV, FLAC).\n\n"
            "Команды (по-русски или по-английски):\n"
            "/статус (/status) — ваши клипы в очереди\n"
            "/отмена (/cancel) — отменить ваши клипы\n"
            "/настройки (/settings) — текущие настройки\n"
            "/тональность до мажор | ре минор | фа-диез минор | авто (/key) — тональность\n"
            "/строй 442 | авто (/a4) — частота ноты ля первой октавы в герцах, или по записи\n"
            "/режим естественный | жёсткий (/mode) — мягкая или жёсткая коррекция\n"
            "/инструмент голос | флейта | скрипка | … | авто (/instrument) — инструмент\n"
            "/язык русский | английский (/lang) — язык\n"
            "/помощь (/help) — эта справка\n\n"
            "Разучиваете песню? Скажите мне какую — и я проверю, все ли ноты на месте:\n"
            "/мелодии (/tunes) — песни и гаммы из сборника\n"
            "/мелодия название | ми ре до … | выкл (/tune) — мелодия для проверки "
            "(или пришлите файл MIDI или MusicXML)\n"
            "/ошибки вкл | выкл (/fixwrong) — передвигать ли не те ноты на ноты мелодии\n\n"
            "Как писать ноты: до ре ми фа соль ля си; диез и бемоль — фа-диез, си-бемоль "
            "(или фа#, сиb). Октава — цифрой после ноты: ми1 или ми¹ — ми первой октавы, "
            "до2 или до² — до второй; ниже первой — словом: «ля малой», «соль большой». "
            "Без октавы я угадаю её по соседней ноте и скажу, где угадал. Длительность — "
            "в четвертях после черты: ми1/2 — половинная, ре1/0,5 — восьмая; без длительностей "
            "я сверяю только ноты, не ритм.\n\n"
            "ц в отчёте — центы, сотые доли полутона: 100 ц — полутон. Отклонение меньше 10 ц "
            "на слух почти незаметно."
        ),
        "en": (
            "Hi! I'm Symphonic Masks 🎭\n"
            "Sing or play a melody: I'll pull the out-of-tune notes to pitch without changing "
            "duration, timbre or picture, and send an intonation report.\n\n"
            "How to send:\n"
            "🎤 a voice message: hold the microphone and sing;\n"
            "🎬 a video as a file: paperclip 📎 → File → the video (MP4 or MOV);\n"
            "🎧 an audio file: paperclip 📎 → File (OGG, MP3, M4A, WAV, FLAC).\n\n"
            "Commands (in English or Russian):\n"
            "/status (/статус) — your clips in the queue\n"
            "/cancel (/отмена) — cancel your clips\n"
            "/settings (/настройки) — current settings\n"
            "/key C major | D minor | F# minor | auto (/тональность) — key and scale\n"
            "/a4 442 | auto (/строй) — reference A4 in Hz, or read from the recording\n"
            "/mode natural | hard (/режим) — gentle or hard correction\n"
            "/instrument voice | flute | violin | … | auto (/инструмент) — instrument\n"
            "/lang en | ru (/язык) — language\n"
            "/help (/помощь) — this help\n\n"
            "Learning a tune? Tell me which, and I'll check every note is in place:\n"
            "/tunes (/мелодии) — songs and scales from the songbook\n"
            "/tune name | E D C … | off (/мелодия) — the tune to check against "
            "(or send a MIDI or MusicXML file)\n"
            "/fixwrong on | off (/ошибки) — whether to move wrong notes to the tune's notes\n\n"
            "Writing notes: C D E F G A B, sharps and flats as F# and Bb. The octave as a number "
            "(middle C is C4: E4, C5) or with primes (e' = E4, e'' = E5). Without one I guess "
            "it from the note before and say where I did. Lengths in quarter beats after a "
            "slash: E4/2 is a half note, D4/0.5 an eighth; without lengths I check the notes, "
            "not the rhythm.\n\n"
            "A cent is a hundredth of a semitone: 100 cents make a semitone. Less than 10 cents "
            "off is hard to hear."
        ),
    },
    "status_none": {
        "ru": "У вас нет клипов в очереди.",
        "en": "You have no clips in the queue.",
    },
    "status_header": {
        "ru": "Ваши клипы:",
        "en": "Your clips:",
    },
    "status_queued": {
        "ru": "• «{title}» — в очереди, позиция {position}",
        "en": "• “{title}” — queued, position {position}",
    },
    "status_running": {
        "ru": "• «{title}» — обрабатывается",
        "en": "• “{title}” — processing",
    },
    "status_queue": {
        "ru": "Всего клипов в очереди: {queued}.",
        "en": "Clips in the queue: {queued}.",
    },
    "status_paused": {
        "ru": (
            "⏸ Обработка ненадолго приостановлена. Ваши клипы сохранены и будут готовы, "
            "как только она возобновится."
        ),
        "en": (
            "⏸ Processing is paused for a moment. Your clips are safe and will be done as soon "
            "as it resumes."
        ),
    },
    "cancel_done": {
        "ru": "Отменено клипов: {count}.",
        "en": "Cancelled clips: {count}.",
    },
    "cancel_none": {
        "ru": "Отменять нечего — у вас нет клипов в очереди.",
        "en": "Nothing to cancel: you have no clips in the queue.",
    },
    "settings_show": {
        "ru": (
            "Ваши настройки:\nТональность: {key}\nСтрой: {a4}\nРежим: {mode}\n"
            "Инструмент: {instrument}\nЯзык: {lang}\nМелодия: {tune}\n"
            "Передвигать не те ноты: {fixwrong}"
        ),
        "en": (
            "Your settings:\nKey: {key}\nTuning: {a4}\nMode: {mode}\n"
            "Instrument: {instrument}\nLanguage: {lang}\nTune: {tune}\n"
            "Move wrong notes: {fixwrong}"
        ),
    },
    "auto": {"ru": "авто", "en": "auto"},
    "a4_auto": {"ru": "ля первой октавы — по записи", "en": "A4 read from the recording"},
    "language_name": {"ru": "русский", "en": "English"},
    "hz": {"ru": "Гц", "en": "Hz"},
    "mode_natural": {"ru": "естественный", "en": "natural"},
    "mode_hard": {"ru": "жёсткий", "en": "hard"},
    "settings_saved": {
        "ru": "Сохранено ✅",
        "en": "Saved ✅",
    },
    "settings_invalid_key": {
        "ru": (
            "Не понял тональность. Напишите, например: /тональность до мажор, "
            "/тональность фа-диез минор, /тональность си-бемоль мажор или /тональность авто."
        ),
        "en": "I didn't get the key. Example: /key C major, /key F# minor or /key auto.",
    },
    "settings_invalid_a4": {
        "ru": (
            "Строй — частота ноты ля первой октавы, число от 400 до 480 Гц: например, "
            "/строй 442, или /строй авто — по записи."
        ),
        "en": "A4 must be a number from 400 to 480 Hz, e.g. /a4 442, or /a4 auto.",
    },
    "settings_invalid_mode": {
        "ru": (
            "Режим: /режим естественный (подтягиваю ноты, сохраняя вибрато) или "
            "/режим жёсткий (ровно в ноту)."
        ),
        "en": "Mode: /mode natural or /mode hard.",
    },
    "settings_invalid_lang": {
        "ru": "Язык: /язык русский или /язык английский.",
        "en": "Language: /lang ru or /lang en.",
    },
    "settings_invalid_instrument": {
        "ru": (
            "Не знаю такого инструмента. Напишите, например: /инструмент голос, флейта, "
            "блокфлейта, скрипка, виолончель, кларнет, труба, саксофон, гобой — или авто."
        ),
        "en": (
            "I don't know that instrument. Write, e.g.: /instrument voice, flute, recorder, "
            "violin, cello, clarinet, trumpet, saxophone, oboe, or auto."
        ),
    },
    # --- the tune (/tune, /tunes, /fixwrong, a score file) ---
    "tune_set": {
        "ru": (
            "🎼 Запомнил мелодию: {tune}\n\n"
            "Теперь присылайте клипы — я сверю их с этой мелодией и подскажу, какие ноты "
            "получились не так. Забыть мелодию: /мелодия выкл"
        ),
        "en": (
            "🎼 Got the tune: {tune}\n\n"
            "Now send your clips: I'll check them against this tune and tell you which notes "
            "went differently. To forget it: /tune off"
        ),
    },
    "tune_show": {
        "ru": (
            "🎼 Ваша мелодия: {tune}\n\n"
            "Другая: /мелодия ми1 ре1 до1 … или /мелодии. Забыть: /мелодия выкл"
        ),
        "en": (
            "🎼 Your tune: {tune}\n\nAnother one: /tune E4 D4 C4 … or /tunes. Forget it: /tune off"
        ),
    },
    "tune_none": {
        "ru": (
            "Мелодия не выбрана — я подтягиваю каждую ноту к ближайшей.\n"
            "Чтобы я сверял клипы с мелодией: выберите песню (/tunes), напишите ноты "
            "(/мелодия ми1 ре1 до1 ре1 ми1 ми1 ми1) или пришлите файл MIDI или MusicXML."
        ),
        "en": (
            "No tune chosen: I pull each note to the nearest one.\n"
            "To have your clips checked against a tune: pick a song (/tunes), type the notes "
            "(/tune E4 D4 C4 D4 E4 E4 E4) or send a MIDI or MusicXML file."
        ),
    },
    "tune_off": {
        "ru": "Хорошо, мелодию забыл. Теперь снова подтягиваю каждую ноту к ближайшей.",
        "en": "OK, tune forgotten. I'm back to pulling each note to the nearest one.",
    },
    "tune_not_set": {"ru": "не выбрана", "en": "none"},
    "tune_track_taken": {
        "ru": (
            "Дорожек с нотами в файле: {count}. Я взял дорожку {track}{name}. Нужна другая — "
            "пришлите файл ещё раз с подписью /tune и её номером, например /tune 1."
        ),
        "en": (
            "Tracks with notes in the file: {count}. I took track {track}{name}. For another, "
            "send the file again with the caption /tune and its number, e.g. /tune 1."
        ),
    },
    "tune_no_such_track": {
        "ru": "В этом файле нет дорожки номер {track}. Пришлите его с подписью /tune 1, /tune 2 …",
        "en": "This file has no track number {track}. Send it with the caption /tune 1, /tune 2 …",
    },
    "tune_doc_track_hint": {
        "ru": "С файлом можно написать только /tune или /tune и номер дорожки, например /tune 2.",
        "en": "With a file, write just /tune, or /tune and a track number, e.g. /tune 2.",
    },
    "tunes_header": {
        "ru": "🎶 Песни из сборника. Нажмите или напишите команду рядом с песней:",
        "en": "🎶 Songbook tunes. Send the command next to a tune:",
    },
    "tunes_exercises": {
        "ru": (
            "Гаммы и арпеджио: до, соль, ре, ля, фа, си-бемоль, ми-бемоль мажор и ля, ми, ре, "
            "соль, до минор. Например: /tune гамма до мажор или /tune арпеджио ля минор"
        ),
        "en": (
            "Scales and arpeggios: C, G, D, A, F, B-flat, E-flat major and A, E, D, G, C minor. "
            "For example: /tune c-major-scale or /tune a-minor-arpeggio"
        ),
    },
    "fixwrong_on": {
        "ru": (
            "Включено ✅ Если нота сыграна не та (до трёх полутонов мимо), я передвину её на "
            "ноту из мелодии."
        ),
        "en": (
            "On ✅ When a note is a wrong one (up to three semitones off), I'll move it to the "
            "tune's note."
        ),
    },
    "fixwrong_off": {
        "ru": "Выключено ✅ Не те ноты я оставлю как сыграны, только подстрою и назову в отчёте.",
        "en": "Off ✅ Wrong notes stay as played: I'll only tune them and name them in the report.",
    },
    "fixwrong_is_on": {
        "ru": "Не те ноты я передвину на ноты мелодии (/ошибки выкл — не передвигать).",
        "en": "Wrong notes will be moved to the tune's notes (/fixwrong off to keep them).",
    },
    "fixwrong_needs_tune": {
        "ru": "Это сработает, когда вы выберете мелодию: /мелодии",
        "en": "This works once you choose a tune: /tunes",
    },
    "fixwrong_invalid": {
        "ru": "Напишите /ошибки вкл (передвигать не те ноты) или /ошибки выкл (оставлять).",
        "en": "Send /fixwrong on (move wrong notes) or /fixwrong off (keep them).",
    },
    "yes": {"ru": "да", "en": "yes"},
    "no": {"ru": "нет", "en": "no"},
    # --- the learner's history (issue 25, bot/history/) ---
    "take_link": {
        "ru": "🎼 Страница записи — каждая нота, до и после: {url}",
        "en": "🎼 This take's page, every note before and after: {url}",
    },
    "history_none": {
        "ru": "Пока нет сохранённых записей. Пришлите клип или голосовое — появится прогресс.",
        "en": "No takes kept yet. Send a clip or a voice message and your progress shows here.",
    },
    "history_caption": {
        "ru": "Ваш прогресс: {count} зап. с {first} по {last}.\n{sentence}",
        "en": "Your progress: {count} takes from {first} to {last}.\n{sentence}",
    },
    "history_link": {
        "ru": "Все записи: {url}",
        "en": "All your takes: {url}",
    },
    "span_days": {"ru": "{n} дн.", "en": "{n} days"},
    "span_weeks": {"ru": "{n} нед.", "en": "{n} weeks"},
    "progress_one_take": {
        "ru": "Пока одна запись: пришлите ещё, и здесь будет видно, как вы растёте.",
        "en": "One take so far: send more and your progress shows here.",
    },
    "progress_better": {
        "ru": "за {span} в среднем на {cents} ц точнее",
        "en": "over {span}, {cents} cents closer on average",
    },
    "progress_worse": {
        "ru": "за {span} в среднем на {cents} ц дальше от нот",
        "en": "over {span}, {cents} cents further off on average",
    },
    "progress_same": {
        "ru": "за {span} точность держится на том же уровне",
        "en": "over {span}, your intonation held steady",
    },
    "progress_no_wrong": {"ru": "неверных нот больше нет", "en": "no wrong notes any more"},
    "progress_fewer_wrong": {
        "ru": "неверных нот меньше: было {before}, стало {after}",
        "en": "fewer wrong notes: {before} then, {after} now",
    },
    "chart_title": {"ru": "Ваш прогресс", "en": "Your progress"},
    "chart_right_notes": {"ru": "верные ноты, %", "en": "right notes, %"},
    "chart_cents_before": {"ru": "мимо нот, ц (до)", "en": "cents off (before)"},
    # --- the learner's page (bot/web/) ---
    "web_title": {"ru": "Мои записи", "en": "My takes"},
    "web_take": {"ru": "Запись", "en": "Take"},
    "web_before": {"ru": "До", "en": "Before"},
    "web_after": {"ru": "После", "en": "After"},
    "web_tune": {"ru": "Мелодия", "en": "Tune"},
    "web_key": {"ru": "Тональность", "en": "Key"},
    "web_note": {"ru": "Нота", "en": "Note"},
    "web_tap_hint": {
        "ru": "Нажмите на ноту: прозвучит до и после настройки.",
        "en": "Tap a note to hear it before and after correction.",
    },
    "web_ok": {"ru": "верно", "en": "right"},
    "web_wrong": {"ru": "не та нота", "en": "wrong note"},
    "web_missed": {"ru": "пропущена", "en": "missed"},
    "web_extra": {"ru": "лишняя", "en": "extra"},
    "web_right_share": {"ru": "верных нот", "en": "right notes"},
    "web_cents_before": {"ru": "мимо нот до, ц", "en": "cents off before"},
    "web_no_takes": {"ru": "Записей пока нет.", "en": "No takes yet."},
    "web_refused": {
        "ru": "Ссылка недействительна или устарела.",
        "en": "This link is not valid or has expired.",
    },
    "web_not_found": {"ru": "Запись не найдена.", "en": "Take not found."},
    "forget_done": {
        "ru": (
            "🗑 Готово: удалил все ваши записи ({takes}), настройки и мелодию. "
            "Старые ссылки больше не открываются."
        ),
        "en": (
            "🗑 Done: all your takes ({takes}), settings and tune are deleted. "
            "Old links no longer open."
        ),
    },
}

# The pipeline reports these stages; each is shown to the user as one of ours.
PIPELINE_STAGE_KEYS: dict[str, str] = {
    "decoding": "stage_analysing",
    "analysing": "stage_analysing",
    "retuning": "stage_retuning",
    "encoding": "stage_uploading",
}


class _Blank(dict[str, Any]):
    """Leaves an unknown placeholder visible instead of crashing a reply."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def t(key: str, lang: str | None = None, /, **facts: Any) -> str:
    """The sentence for ``key`` in ``lang`` (Russian when unknown), with ``facts`` filled in.

    A fractional fact is written the reader's way: «12,5 МБ» in Russian, "12.5 MB" in English.
    """
    entry = TEXTS[key]
    chosen = lang if lang in entry else DEFAULT_LANG
    comma = chosen == "ru"
    shown = {
        name: (f"{value:g}".replace(".", ",") if comma else f"{value:g}")
        if isinstance(value, float)
        else value
        for name, value in facts.items()
    }
    return string.Formatter().vformat(entry[chosen], (), _Blank(shown))


def error_key(code: str) -> str:
    """The text key for a ``core.errors`` code (unknown codes get the generic message)."""
    key = f"error_{code}"
    return key if key in TEXTS else "error_bad_input"


def languages() -> tuple[str, ...]:
    return ("ru", "en")


__all__ = ["INPUT_ERROR_CODES", "PIPELINE_STAGE_KEYS", "TEXTS", "error_key", "t"]
