import { VIEWER_FILES } from './assets.ts';

/** How the viewer at `GET <mount>/ui` looks and authenticates. */
export interface AuditViewerOptions {
  /** The page's title and heading; default `Audit log`. */
  title?: string;
  /**
   * Ask for a token and send it as `Authorization: Bearer <token>` (kept in
   * the tab's sessionStorage). Default `false`: the page's requests carry the
   * browser's own credentials (same-origin cookies) only.
   *
   * @example
   * askForToken: { label: 'API token', hint: 'Find it under Settings → Tokens.' }
   */
  askForToken?: boolean | { label?: string; hint?: string };
  /**
   * A same-origin stylesheet loaded after the viewer's own: set its CSS
   * variables there (`--at-accent`, `--at-bg`, `--at-font`, …) to make it
   * look like the app.
   */
  stylesheet?: string;
}

/**
 * The page's Content-Security-Policy: scripts and styles only from the
 * viewer's own files, no inline script, requests only to its own origin.
 */
export const VIEWER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = Object.freeze({
  'viewer.js': 'text/javascript; charset=utf-8',
  'viewer.css': 'text/css; charset=utf-8',
});

const escapeAttribute = (text: string): string =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);

const SECURITY_HEADERS = {
  'content-security-policy': VIEWER_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The viewer's page, its asset links under `uiPath` (`/audit/ui`) and its
 * requests to `apiPath` (`/audit`). No data is in it.
 */
export function viewerPage(uiPath: string, apiPath: string, options: AuditViewerOptions, head = false): Response {
  const ask = options.askForToken;
  const values: Record<string, string> = {
    api: apiPath,
    ui: uiPath,
    title: options.title ?? 'Audit log',
    token: ask ? 'ask' : 'none',
    tokenLabel: (typeof ask === 'object' && ask.label) || 'Token',
    tokenHint: (typeof ask === 'object' && ask.hint) || '',
  };
  let html = VIEWER_FILES['index.html']!.replace(/\{\{(\w+)\}\}/g, (whole, name: string) =>
    name === 'stylesheet' ? whole : escapeAttribute(values[name] ?? ''),
  );
  html = html.replace(
    '{{stylesheet}}',
    options.stylesheet ? `<link rel="stylesheet" href="${escapeAttribute(options.stylesheet)}">` : '',
  );
  return new Response(head ? null : html, {
    status: 200,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', ...SECURITY_HEADERS },
  });
}

/** One of the viewer's files (`viewer.js`, `viewer.css`), or `null` when there is no such file. */
export function viewerAsset(name: string, head = false): Response | null {
  const type = TYPES[name];
  const text = type === undefined ? undefined : VIEWER_FILES[name];
  if (text === undefined) return null;
  return new Response(head ? null : text, {
    status: 200,
    headers: { 'content-type': type!, 'cache-control': 'no-cache', ...SECURITY_HEADERS },
  });
}
