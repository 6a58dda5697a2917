// Building DOM from data without ever parsing it as HTML: every value becomes a text node or an
// attribute, so a stored `<img src=x onerror=...>` shows as the characters it is.

/** `h('a', {href, class, onClick}, child, ...)`: an element; strings become text nodes. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A message box (`kind`: info | error | success). */
export function notice(kind, text) {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** `2026-11-27T09:30:00+08:00` as `2026-11-27 09:30:00`: the server's local wall-clock time,
 *  as the trail and the exports show it, whatever the browser's time zone. */
export function wallClock(iso) {
  return iso ? iso.slice(0, 19).replace('T', ' ') : '';
}
