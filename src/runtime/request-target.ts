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

function isPlainPath(target: string): boolean {
  return target.startsWith('/') && PLAIN_PATH.test(target) && !DOT_SEGMENT.test(target);
}

/** Whether the target parses (else answer 400). */
export function isParsableTarget(target: string | undefined): boolean {
  return target === undefined || isPlainPath(target) || parseRequestTarget(target) !== null;
}

/** The pathname of a target, or null when it cannot be parsed. */
export function pathnameOf(target: string | undefined): string | null {
  if (target !== undefined && isPlainPath(target)) return target;
  return parseRequestTarget(target)?.pathname ?? null;
}
