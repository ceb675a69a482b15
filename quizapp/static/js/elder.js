// Elder mode (长辈模式): the switch, and one question per screen on the quiz that is not
// paced (the paced quiz already shows one). html.elder itself is set before the first paint
// by elder-init.js; this module wires the switches and pages the questions. Progressive
// enhancement only: without it every question stays on the page and the form still posts.
const KEY = "qm-elder";
const root = document.documentElement;
const toggles = [...document.querySelectorAll("[data-elder-toggle]")];

function isOn() {
  return root.classList.contains("elder");
}

function remember(on) {
  try { localStorage.setItem(KEY, on ? "1" : "0"); } catch { /* private mode */ }
}

// --- paging: one question per screen, 上一题 / 下一题, the answer sheet to jump ------------
const form = document.getElementById("quiz-form");
const sheet = document.getElementById("answer-sheet");
const pagerTemplate = document.getElementById("elder-pager");
const submitButton = form?.querySelector('[data-action="submit-attempt"]');
const paging = { pager: null, home: null, current: 1, nextText: "" };

function questions() {
  return form ? [...form.querySelectorAll("fieldset.question")] : [];
}

function show(position, { focus = false } = {}) {
  const list = questions();
  paging.current = Math.min(Math.max(position, 1), list.length);
  for (const fs of list) fs.hidden = Number(fs.dataset.pos) !== paging.current;
  for (const cell of sheet.querySelectorAll(".cell")) {
    if (Number(cell.dataset.pos) === paging.current) cell.setAttribute("aria-current", "step");
    else cell.removeAttribute("aria-current");
  }
  const [prev, next] = paging.pager.querySelectorAll("button");
  prev.disabled = paging.current <= 1;
  // On the last question 下一题 becomes 交卷 (the quiz's own button, with its warning).
  const last = paging.current >= list.length && submitButton;
  next.textContent = last ? submitButton.textContent.trim() : paging.nextText;
  next.classList.toggle("primary", Boolean(last));
  next.dataset.step = last ? "submit" : "1";
  paging.pager.querySelector(".elder-pos").textContent = `${paging.current} / ${list.length}`;
  if (focus) {
    const fs = list[paging.current - 1];
    fs.tabIndex = -1;
    fs.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
}

function startPosition(list) {
  const fromHash = /^#q(\d+)$/.exec(window.location.hash);
  if (fromHash) return Number(fromHash[1]);
  const open = list.find((fs) => !fs.querySelector("input:checked"));
  return open ? Number(open.dataset.pos) : 1;
}

function startPaging() {
  const list = questions();
  if (paging.pager || !sheet || !pagerTemplate || list.length < 2) return;
  paging.pager = pagerTemplate.content.firstElementChild.cloneNode(true);
  paging.nextText = paging.pager.querySelector(".next").textContent;
  list[list.length - 1].after(paging.pager);
  // The sheet moves below the pager (in the DOM, so the focus order follows what is seen).
  paging.home = document.createComment("answer-sheet");
  sheet.before(paging.home);
  paging.pager.after(sheet);
  paging.pager.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-step]");
    if (button?.dataset.step === "submit") submitButton.click();
    else if (button) show(paging.current + Number(button.dataset.step), { focus: true });
  });
  show(startPosition(list));
}

function stopPaging() {
  if (!paging.pager) return;
  for (const fs of questions()) fs.hidden = false;
  for (const cell of sheet.querySelectorAll(".cell")) cell.removeAttribute("aria-current");
  paging.home.replaceWith(sheet);
  paging.pager.remove();
  paging.pager = null;
}

sheet?.addEventListener("click", (event) => {
  const cell = event.target.closest(".cell");
  if (!cell || !paging.pager) return;
  event.preventDefault();
  show(Number(cell.dataset.pos), { focus: true });
});

// --- the switches ---------------------------------------------------------------------------
function apply(on) {
  root.classList.toggle("elder", on);
  for (const box of toggles) box.checked = on;
  if (on) startPaging();
  else stopPaging();
}

for (const box of toggles) {
  box.checked = isOn();
  box.closest("[data-elder-switch]")?.removeAttribute("hidden");
  box.addEventListener("change", () => {
    remember(box.checked);
    apply(box.checked);
  });
}

// After quiz.js has restored answers queued on this phone (modules run before this event),
// so the first unanswered question is the one shown.
document.addEventListener("DOMContentLoaded", () => apply(isOn()));
