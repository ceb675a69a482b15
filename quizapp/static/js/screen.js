// Event screen: poll the screen endpoint with ETags and update the boards in place.
// Data goes in through textContent only, never innerHTML.
const root = document.getElementById("screen");
const stale = document.getElementById("s-stale");
const emptyText = document.getElementById("empty-text").content.textContent;
let etag = null;
let failures = 0;

function cell(text) {
  const td = document.createElement("td");
  td.textContent = String(text);
  return td;
}

function fill(tbody, rows, columns) {
  const fresh = document.createDocumentFragment();
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = cell(emptyText);
    td.colSpan = columns.length;
    tr.append(td);
    fresh.append(tr);
  }
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.dataset.rank = row.rank;
    for (const col of columns) tr.append(cell(col(row)));
    fresh.append(tr);
  }
  tbody.replaceChildren(fresh);
  tbody.classList.remove("flash-in");
  void tbody.offsetWidth;
  tbody.classList.add("flash-in");
}

function render(data) {
  document.getElementById("s-title").textContent = data.competition.title;
  document.getElementById("s-theme").textContent = data.competition.theme;
  document.getElementById("s-participants").textContent = data.participants;
  document.getElementById("s-submitted").textContent = data.submitted;
  fill(document.getElementById("s-top"), data.top, [
    (r) => r.rank, (r) => r.name, (r) => r.unit, (r) => r.score,
    (r) => `${Math.round(r.duration_ms / 1000)}s`,
  ]);
  fill(document.getElementById("s-units"), data.units, [
    (r) => r.rank, (r) => r.name, (r) => r.participants, (r) => Number(r.average_score).toFixed(1),
  ]);
}

async function poll() {
  try {
    const headers = etag ? { "If-None-Match": etag } : {};
    const res = await fetch(root.dataset.api, { headers, cache: "no-cache" });
    if (res.status === 200) {
      etag = res.headers.get("ETag");
      render(await res.json());
    } else if (res.status !== 304) {
      throw new Error(`HTTP ${res.status}`);
    }
    failures = 0;
    stale.hidden = true;
  } catch {
    failures += 1;
    stale.hidden = failures < 2;
  }
  window.setTimeout(poll, failures ? Math.min(3000 * failures, 15000) : 3000);
}

window.setTimeout(poll, 3000);
