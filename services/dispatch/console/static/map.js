// A small map without a library: an equirectangular projection around the incident, drawn in SVG.
// With a tile URL (DISPATCH_CONSOLE_TILE_URL) the web-mercator tile under the centre is laid beneath;
// without one (tests, offline) a plain grid keeps the markers and their distances readable.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 360;
const HEIGHT = 240;

export function haversineKm(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(h));
}

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function tileFor(template, centre, zoom) {
  const n = 2 ** zoom;
  const x = Math.floor(((centre.lon + 180) / 360) * n);
  const latRad = (centre.lat * Math.PI) / 180;
  const y = Math.floor(((1 - Math.log(Math.tan(latRad) + 1 / Math.cos(latRad)) / Math.PI) / 2) * n);
  return template.replace("{z}", zoom).replace("{x}", x).replace("{y}", y);
}

// points: [{lat, lon, kind: "incident"|"home"|"responder", label}]
export function drawMap(container, points, { tileUrl, km, title }) {
  container.replaceChildren();
  const known = points.filter((p) => Number.isFinite(p.lat) && Number.isFinite(p.lon));
  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title, class: "map" });
  svg.append(el("rect", { x: 0, y: 0, width: WIDTH, height: HEIGHT, class: "map-bg" }));
  if (known.length === 0) {
    container.append(svg);
    return;
  }
  const centre = known[0];
  const cosLat = Math.cos((centre.lat * Math.PI) / 180);
  // Fit every point with a margin; at least 1 km across so a lone marker is not zoomed to nothing.
  let spanKm = 1;
  for (const p of known) spanKm = Math.max(spanKm, haversineKm(centre, p) * 2.4);
  const kmPerPx = spanKm / Math.min(WIDTH, HEIGHT);
  const project = (p) => ({
    x: WIDTH / 2 + ((p.lon - centre.lon) * 111.32 * cosLat) / kmPerPx,
    y: HEIGHT / 2 - ((p.lat - centre.lat) * 110.57) / kmPerPx,
  });
  if (tileUrl) {
    const zoom = Math.max(3, Math.min(17, Math.round(Math.log2((40075 * cosLat) / (kmPerPx * 256)))));
    svg.append(el("image", { href: tileFor(tileUrl, centre, zoom), x: 0, y: 0, width: WIDTH, height: HEIGHT, opacity: 0.8 }));
  }
  for (let i = 1; i < 6; i++) {
    svg.append(el("line", { x1: (WIDTH * i) / 6, y1: 0, x2: (WIDTH * i) / 6, y2: HEIGHT, class: "map-grid" }));
    svg.append(el("line", { x1: 0, y1: (HEIGHT * i) / 6, x2: WIDTH, y2: (HEIGHT * i) / 6, class: "map-grid" }));
  }
  const origin = project(centre);
  for (const p of known.slice(1)) {
    const at = project(p);
    svg.append(el("line", { x1: origin.x, y1: origin.y, x2: at.x, y2: at.y, class: "map-link" }));
  }
  for (const p of known) {
    const at = project(p);
    const group = el("g", { class: `marker marker-${p.kind}`, "data-marker": p.kind });
    group.append(el("circle", { cx: at.x, cy: at.y, r: p.kind === "incident" ? 8 : 6 }));
    const distance = p === centre ? "" : ` · ${km(haversineKm(centre, p))}`;
    group.append(el("text", { x: at.x + 10, y: at.y + 4 }, `${p.label}${distance}`));
    group.append(el("title", {}, `${p.label}${distance}`));
    svg.append(group);
  }
  container.append(svg);
}
