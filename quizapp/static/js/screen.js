// Event screen: poll the screen endpoint with ETags and update the boards in place.
// Data goes in through textContent only, never innerHTML. Rows that move slide to their
// new place, new rows fade in, changed scores glow; rows that do not fit are shown in
// pages that turn by themselves. When the server stops answering, the last results stay
// up and a banner says since when; polling resumes by itself.
const POLL_MS = 2000;
const MAX_BACKOFF_MS = 5000;
const TIMEOUT_MS = 4000;
const STALE_AFTER_MS = 4500;
const PAGE_MS = 8000;
const REVEAL_STEP_MS = 700;
const REVEAL_FRESH_S = 60;

const root = document.getElementById("screen");
const stale = document.getElementById("s-stale");
const staleSince = document.getElementById("s-stale-since");
const staleTemplate = document.getElementById("stale-since").content.textContent;
const emptyText = document.getElementById("empty-text").content.textContent;
const metricLabels = Object.fromEntries(
  [...document.getElementById("metric-labels").content.querySelectorAll("[data-metric]")]
    .map((el) => [el.dataset.metric, el.textContent]),
);
const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

let etag = null;
let failures = 0;
let lastOk = Date.now();
let seenReveal; // undefined until the first answer: a reveal older than that is not replayed
let revealing = false;

const pct = (rate) => (rate === null || rate === undefined ? "—" : `${Math.round(rate * 100)}%`);
const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`;

function metricValue(unit, metric) {
  if (metric === "participation") return pct(unit.participation_rate);
  if (!unit.participants) return "—";
  if (metric === "full_rate") return pct(unit.full_score_rate);
  if (metric === "total") return String(unit.total_score);
  return Number(unit.average_score).toFixed(1);
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = String(text);
  if (className) td.className = className;
  return td;
}

function personRow(p, shared) {
  const tr = document.createElement("tr");
  tr.dataset.rank = p.rank;
  tr.dataset.key = p.key || `r${p.rank}`;
  const name = document.createElement("td");
  name.className = "c-name";
  const n = document.createElement("span");
  n.className = "name";
  n.textContent = p.name;
  name.append(n);
  // Phones (masked) only tell apart people whose shown names are the same.
  if (shared.has(p.name) && p.phone) {
    const phone = document.createElement("span");
    phone.className = "phone";
    phone.textContent = p.phone;
    name.append(" ", phone);
  }
  tr.append(cell(p.rank, "c-rank"), name, cell(p.unit), cell(p.score, "c-num c-val"),
    cell(seconds(p.duration_ms), "c-num"));
  tr.dataset.value = `${p.score}|${p.duration_ms}`;
  return tr;
}

function unitRow(u, metric) {
  const tr = document.createElement("tr");
  tr.dataset.rank = u.rank;
  tr.dataset.key = u.key || `u${u.rank}`;
  const people = metric === "participation" && u.headcount
    ? `${u.participants}/${u.headcount}` : String(u.participants);
  const value = metricValue(u, metric);
  tr.append(cell(u.rank, "c-rank"), cell(u.name), cell(people, "c-num"),
    cell(value, "c-num c-val"));
  tr.dataset.value = `${people}|${value}`;
  return tr;
}

function emptyRow(columns) {
  const tr = document.createElement("tr");
  tr.className = "empty";
  const td = cell(emptyText);
  td.colSpan = columns;
  tr.append(td);
  return tr;
}

// --- paging: only whole rows are ever shown ---------------------------------------

const pagers = new Map();

function paginate(tbody, label) {
  const rows = [...tbody.rows];
  rows.forEach((tr) => { tr.hidden = false; });
  const section = tbody.closest("section");
  const style = getComputedStyle(section);
  const bottom = section.getBoundingClientRect().bottom - parseFloat(style.paddingBottom)
    - (section.querySelector(".tie-rule")?.offsetHeight || 0);
  const first = rows[0];
  const state = pagers.get(tbody) || { page: 0 };
  pagers.set(tbody, state);
  let perPage = rows.length;
  if (first && rows.length > 1) {
    const top = first.getBoundingClientRect().top;
    const height = first.getBoundingClientRect().height || 1;
    perPage = Math.max(1, Math.floor((bottom - top + 0.5) / height));
  }
  state.pages = Math.max(1, Math.ceil(rows.length / perPage));
  state.perPage = perPage;
  state.page = Math.min(state.page, state.pages - 1);
  showPage(tbody, label);
}

function showPage(tbody, label) {
  const state = pagers.get(tbody);
  [...tbody.rows].forEach((tr, i) => {
    tr.hidden = Math.floor(i / state.perPage) !== state.page;
  });
  label.textContent = state.pages > 1 ? `${state.page + 1}/${state.pages}` : "";
}

function turnPages() {
  if (revealing) return;
  for (const [tbody, state] of pagers) {
    if (state.pages > 1) {
      state.page = (state.page + 1) % state.pages;
      showPage(tbody, tbody === boards.top.body ? boards.top.label : boards.units.label);
      tbody.classList.remove("page-in");
      void tbody.offsetWidth;
      tbody.classList.add("page-in");
    }
  }
}

// --- updating a board in place ----------------------------------------------------

const boards = {
  top: { body: document.getElementById("s-top"), label: document.getElementById("s-top-page"), columns: 5 },
  units: { body: document.getElementById("s-units"), label: document.getElementById("s-units-page"), columns: 4 },
};

function update(board, fresh) {
  const { body } = board;
  const before = new Map();
  for (const tr of body.rows) {
    if (!tr.hidden && tr.dataset.key) {
      before.set(tr.dataset.key, { top: tr.getBoundingClientRect().top, value: tr.dataset.value });
    }
  }
  body.replaceChildren(...(fresh.length ? fresh : [emptyRow(board.columns)]));
  paginate(body, board.label);
  if (reduceMotion) return;
  for (const tr of fresh) {
    if (tr.hidden) continue;
    const old = before.get(tr.dataset.key);
    if (!old) {
      if (before.size) tr.classList.add("row-new");
      continue;
    }
    if (old.value !== undefined && old.value !== tr.dataset.value) tr.classList.add("row-changed");
    const dy = old.top - tr.getBoundingClientRect().top;
    if (Math.abs(dy) > 1) {
      tr.style.transform = `translateY(${dy}px)`;
      tr.style.transition = "none";
      requestAnimationFrame(() => requestAnimationFrame(() => {
        tr.style.transition = "transform .9s ease";
        tr.style.transform = "";
      }));
    }
  }
}

function setCount(id, value) {
  const el = document.getElementById(id);
  const text = String(value);
  if (el.textContent === text) return;
  el.textContent = text;
  if (reduceMotion) return;
  el.classList.remove("bump");
  void el.offsetWidth;
  el.classList.add("bump");
}

async function reveal(board) {
  // Last place first, one row at a time, the winner last.
  revealing = true;
  const rows = [...board.body.rows].filter((tr) => !tr.hidden && !tr.classList.contains("empty"));
  rows.forEach((tr) => tr.classList.add("to-reveal"));
  for (const tr of rows.reverse()) {
    await new Promise((resolve) => window.setTimeout(resolve, REVEAL_STEP_MS));
    tr.classList.remove("to-reveal");
    tr.classList.add("revealed");
  }
  revealing = false;
}

function render(data) {
  document.getElementById("s-title").textContent = data.competition.title;
  document.getElementById("s-theme").textContent = data.competition.theme;
  document.getElementById("s-frozen").hidden = !data.frozen;
  document.body.classList.toggle("frozen", Boolean(data.frozen));
  setCount("s-participants", data.participants);
  setCount("s-submitted", data.submitted);
  const metric = data.unit_metric || "average";
  document.getElementById("s-metric").textContent = metricLabels[metric] || metricLabels.average;
  const seen = new Set();
  const shared = new Set(data.top.map((p) => p.name).filter((n) => seen.has(n) || !seen.add(n)));
  update(boards.top, data.top.map((p) => personRow(p, shared)));
  update(boards.units, data.units.map((u) => unitRow(u, metric)));
  if (seenReveal === undefined && data.revealed_at) {
    // Opened just after a reveal (or reloaded during one): still play it.
    const age = (Date.parse(data.server_now) - Date.parse(data.revealed_at)) / 1000;
    seenReveal = age >= 0 && age < REVEAL_FRESH_S ? null : data.revealed_at;
  }
  if (data.revealed_at && data.revealed_at !== seenReveal && !data.frozen) {
    seenReveal = data.revealed_at;
    if (!reduceMotion) reveal(boards.top);
  } else if (seenReveal === undefined) {
    seenReveal = null;
  }
}

function showStale() {
  const time = new Date(lastOk).toLocaleTimeString();
  staleSince.textContent = staleTemplate.replace("{time}", time);
  stale.hidden = false;
  document.body.classList.add("is-stale");
}

async function poll() {
  if (revealing) {
    window.setTimeout(poll, POLL_MS);
    return;
  }
  const controller = new AbortController();
  const timer = window.setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const headers = etag ? { "If-None-Match": etag } : {};
    const res = await fetch(root.dataset.api, { headers, cache: "no-cache", signal: controller.signal });
    if (res.status === 200) {
      const data = await res.json();
      etag = res.headers.get("ETag");
      render(data);
    } else if (res.status !== 304) {
      throw new Error(`HTTP ${res.status}`);
    }
    failures = 0;
    lastOk = Date.now();
    stale.hidden = true;
    document.body.classList.remove("is-stale");
  } catch {
    failures += 1;
    if (failures >= 2 || Date.now() - lastOk > STALE_AFTER_MS) showStale();
  } finally {
    window.clearTimeout(timer);
  }
  const wait = failures ? Math.min(POLL_MS * failures, MAX_BACKOFF_MS) : POLL_MS;
  window.setTimeout(poll, wait);
}

const repaginate = () => {
  for (const board of Object.values(boards)) paginate(board.body, board.label);
};
repaginate();
window.addEventListener("resize", repaginate);
document.fonts?.ready.then(repaginate); // row heights change when the CJK font arrives
window.setInterval(turnPages, PAGE_MS);
poll();
