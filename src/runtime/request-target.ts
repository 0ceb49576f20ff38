/**
 * The one parser of HTTP request-targets (RFC 9112 3.2). `new URL(target, base)` is not it:
 * it reads an origin-form target "//host/p" as a host name (path "/p") and throws on targets
 * it cannot parse ("http://["), which a peer controls. Every request path wsactor looks at
 * (upgrade routing, `request.path`, the live view, metrics, the `path` option) goes through here.
 */
const BASE = 'http://localhost';

/** The target as a URL, or null when it cannot be parsed (answer 400). */
export function parseRequestTarget(target: string | undefined): URL | null {
  const value = target ?? '/';
  try {
    // Origin-form ("/p?q"), the usual one: appended, so a leading "//" stays part of the path.
    return value.startsWith('/') ? new URL(BASE + value) : new URL(value, BASE);
  } catch {
    return null;
  }
}

/**
 * A path whose pathname is the target itself ("/", "/chat", "/a/b.c/"): characters a URL path
 * keeps as they are, no empty, dot or percent-escaped segment, no query. Most upgrade targets
 * are one; they skip the URL parser (its parse and URL object on every handshake).
 */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9\-_~!$&'()*+,;=:@.]+)*\/?$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;
/** A segment of one or two dots, at least one of them written "%2e". */
const ENCODED_DOT_SEGMENT = /\/(?:%2e|\.%2e|%2e\.|%2e%2e)(?:\/|$)/i;

function isPlainPath(target: string): boolean {
  return target.startsWith('/') && PLAIN_PATH.test(target) && !DOT_SEGMENT.test(target);
}

/** The absolute form (RFC 9112 3.2.2), which a server must accept too. */
const ABSOLUTE_FORM = /^(?:https?|wss?):\/\//i;

/**
 * Whether the target is one to serve (else answer 400): it parses, and it is the origin or
 * absolute form without a backslash or a fragment. The URL parser reads a backslash as "/"
 * (so "/a\..\b" would be served as "/b" while a proxy in front saw another path) and drops a
 * fragment, which a request never has; "*" and "host:port" are forms for OPTIONS and CONNECT.
 * A dot segment spelled with percent escapes ("/x/%2e%2e/chat") is refused for the same reason
 * as a backslash: the parser resolves it, a proxy may not.
 */
export function isServableTarget(target: string | undefined): boolean {
  if (target === undefined || isPlainPath(target)) return true;
  if (target.includes('\\') || target.includes('#') || ENCODED_DOT_SEGMENT.test(target.split('?', 1)[0] as string)) return false;
  if (!target.startsWith('/') && !ABSOLUTE_FORM.test(target)) return false;
  return parseRequestTarget(target) !== null;
}

/** The pathname of a target, or null when it cannot be parsed. */
export function pathnameOf(target: string | undefined): string | null {
  if (target !== undefined && isPlainPath(target)) return target;
  return parseRequestTarget(target)?.pathname ?? null;
}
