// Quiz page: autosave each choice through API v1, a server-timed countdown, an offline
// queue that resends when the connection returns, and submit at time zero.
const status = document.getElementById("quiz-status");
const form = document.getElementById("quiz-form");
const token = status.dataset.token;
const api = `/api/v1/attempts/${encodeURIComponent(token)}`;
const resultUrl = status.dataset.resultUrl;
const QUEUE_KEY = `qm-queue-${token}`;
const banner = document.getElementById("offline-banner");
const timerValue = document.getElementById("timer-value");
const timer = document.getElementById("timer");

// The deadline as an offset from this phone's clock, computed from server_now:
// the phone's own clock may be wrong, only the elapsed time since load is trusted.
const remainingAtLoad = Number(status.dataset.remaining);
const loadedAt = performance.now();
let finishing = false;
let closed = false; // the server refused an answer: submitted or past the deadline

function remaining() {
  return Math.max(0, remainingAtLoad - (performance.now() - loadedAt) / 1000);
}

function loadQueue() {
  try { return JSON.parse(localStorage.getItem(QUEUE_KEY) || "{}"); } catch { return {}; }
}
function storeQueue(queue) {
  try { localStorage.setItem(QUEUE_KEY, JSON.stringify(queue)); } catch { /* private mode */ }
}

function choiceOf(fieldset) {
  return [...fieldset.querySelectorAll("input:checked")].map((i) => i.value).sort().join("");
}

function setState(position, text, cls) {
  const fs = document.getElementById(`q${position}`);
  const el = fs && fs.querySelector(".save-state");
  if (el) { el.textContent = text; el.className = `save-state ${cls || ""}`; }
}

const paced = Boolean(status.dataset.paced);

function markSheet() {
  if (paced) return 0;
  let answered = 0;
  for (const fs of form.querySelectorAll("fieldset.question")) {
    const done = choiceOf(fs) !== "";
    answered += done;
    const cell = document.querySelector(`.sheet .cell[data-pos="${fs.dataset.pos}"]`);
    if (cell) cell.classList.toggle("done", done);
  }
  document.getElementById("answered-count").textContent = String(answered);
  return answered;
}

function online(isOnline) {
  banner.hidden = isOnline;
}

// "ok", "closed" (the server refuses: submitted or past the deadline) or "fail": no
// answer, a 5xx (503 while the database restarts) or a 429; the answer stays queued.
async function send(position, choice) {
  const res = await fetch(`${api}/answers/${position}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ choice }),
  });
  if (res.status === 409) {
    // A paced question whose time is over only loses this answer; anything else
    // (submitted, past the deadline) ends the quiz on this phone.
    const body = await res.json().catch(() => ({}));
    return body.error?.code === "question_closed" ? "ok" : "closed";
  }
  return res.ok || res.status === 422 || res.status === 404 ? "ok" : "fail";
}

// One flush at a time; a flush runs until the queue is empty, so an answer changed
// while an earlier one is in flight is sent by the same flush, and anyone awaiting
// flush() (the submit) waits for it. Resolves true when everything was delivered.
async function drain() {
  for (let entries = Object.entries(loadQueue()); entries.length;
    entries = Object.entries(loadQueue())) {
    for (const [position, choice] of entries) {
      let outcome;
      try { outcome = await send(position, choice); } catch { outcome = "fail"; }
      if (outcome === "fail") { online(false); return false; }
      if (outcome === "closed") { closed = true; return true; }
      const current = loadQueue();
      if (current[position] === choice) { delete current[position]; storeQueue(current); }
      setState(position, form.dataset.savedText || "✓", "ok");
    }
  }
  online(true);
  return true;
}

let flushing = null;
function flush() {
  // .finally runs after the assignment, even when drain() finishes at once.
  if (!flushing) flushing = drain().finally(() => { flushing = null; });
  return flushing;
}

form.addEventListener("change", (event) => {
  const fs = event.target.closest("fieldset.question");
  if (!fs) return;
  const queue = loadQueue();
  queue[fs.dataset.pos] = choiceOf(fs);
  storeQueue(queue);
  setState(fs.dataset.pos, "…", "");
  markSheet();
  flush().then(() => { if (closed) finish(); });
});

const sleep = (ms) => new Promise((resolve) => { window.setTimeout(resolve, ms); });

// "ok": the server has a result (2xx) or settled the attempt itself (409: submitted or
// past the deadline, scored on the saved answers); "fail": no answer, a 5xx or a 429.
async function submitOnce() {
  try {
    const res = await fetch(`${api}/submit`, { method: "POST" });
    const refused = res.status >= 400 && res.status < 500 && res.status !== 429;
    return res.ok || refused ? "ok" : "fail";
  } catch { return "fail"; }
}

// The server's network grace after the deadline is at most 10 s (ANSWER_GRACE_S).
const GRACE_S = 10;

async function finish() {
  if (finishing) return;
  finishing = true;
  // Deliver the queued answers, then submit. While the connection or the server is
  // down (a 503 while the database restarts) both are retried, and the queue is kept,
  // until the server could no longer take them: leaving for the result page earlier
  // would drop answers it has not received.
  const giveUpAt = performance.now() + (remaining() + GRACE_S) * 1000;
  while (!((closed || (await flush())) && (await submitOnce()) === "ok")) {
    if (performance.now() >= giveUpAt) break; // the result page finalises the attempt
    online(false);
    await sleep(2000);
  }
  localStorage.removeItem(QUEUE_KEY);
  window.location.assign(resultUrl);
}

const submitButton = form.querySelector('[data-action="submit-attempt"]');
submitButton?.addEventListener("click", (event) => {
  event.preventDefault();
  if (!submitButton.dataset.noConfirm) {
    const total = form.querySelectorAll("fieldset.question").length;
    const missing = total - markSheet();
    if (missing > 0 && !window.confirm(submitButton.dataset.confirm.replace("{n}", missing))) {
      return;
    }
  }
  finish();
});

// Paced quiz: "next" posts the form (it carries the answer on screen), and the
// question's own countdown moves on by itself at zero.
const nextButton = form.querySelector('[data-action="next-question"]');
let movingOn = false;
function moveOn() {
  if (movingOn) return;
  movingOn = true;
  const onScreen = form.querySelector("fieldset.question");
  if (onScreen) {
    const queue = loadQueue();
    delete queue[onScreen.dataset.pos];
    storeQueue(queue);
  }
  if (nextButton) form.requestSubmit(nextButton);
  else if (submitButton) finish();
}
nextButton?.addEventListener("click", (event) => { event.preventDefault(); moveOn(); });

const questionTimer = document.getElementById("question-timer-value");
if (questionTimer) {
  const questionLeftAtLoad = Number(status.dataset.questionLeft);
  const questionTick = () => {
    const left = Math.max(0, Math.ceil(questionLeftAtLoad - (performance.now() - loadedAt) / 1000));
    questionTimer.textContent = String(left);
    questionTimer.parentElement.classList.toggle("urgent", left <= 5);
    if (left <= 0) { moveOn(); return; }
    window.setTimeout(questionTick, 250);
  };
  questionTick();
}

function tick() {
  const left = Math.ceil(remaining());
  timerValue.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  timer.classList.toggle("urgent", left <= 60);
  if (left <= 0) { finish(); return; }
  window.setTimeout(tick, 250);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden" && !finishing) {
    navigator.sendBeacon?.(`${api}/focus-loss`);
  }
});
window.addEventListener("online", flush);
window.addEventListener("offline", () => online(false));
window.setInterval(() => { if (Object.keys(loadQueue()).length) flush(); }, 5000);

// Answers queued by an earlier visit (a dropped connection, a reload) go first.
for (const [position, choice] of Object.entries(loadQueue())) {
  const fs = document.getElementById(`q${position}`);
  if (!fs) continue;
  for (const input of fs.querySelectorAll("input")) input.checked = choice.includes(input.value);
}
const saveButton = document.getElementById("save-btn");
if (saveButton) saveButton.hidden = true;
markSheet();
flush();
tick();
