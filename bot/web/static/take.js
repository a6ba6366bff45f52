// Tap a note: hear it as sung (before), then corrected (after).
(function () {
  "use strict";
  var before = document.getElementById("before");
  var after = document.getElementById("after");
  var timer = null;
  function stopAll() {
    if (timer) { clearTimeout(timer); timer = null; }
    before.pause(); after.pause();
    document.querySelectorAll(".playing").forEach(function (el) { el.classList.remove("playing"); });
  }
  function playSpan(audio, start, end, then) {
    audio.currentTime = start;
    var p = audio.play();
    if (p && p.catch) { p.catch(function () {}); }
    timer = setTimeout(function () { audio.pause(); if (then) { then(); } },
                       Math.max(250, (end - start) * 1000 + 150));
  }
  function tap(el) {
    var start = parseFloat(el.getAttribute("data-start"));
    var end = parseFloat(el.getAttribute("data-end"));
    if (isNaN(start) || isNaN(end)) { return; }
    stopAll();
    var idx = el.getAttribute("data-note-index") || el.getAttribute("data-row-index");
    var note = document.querySelector('[data-note-index="' + idx + '"]');
    if (note) { note.classList.add("playing"); }
    var from = Math.max(0, start - 0.05);
    playSpan(before, from, end, function () {
      playSpan(after, from, end, function () { if (note) { note.classList.remove("playing"); } });
    });
  }
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-note-index],[data-row-index]");
    if (el) { tap(el); }
  });
})();
