/**
 * Every link in the repository's Markdown resolves inside a clone: relative files exist and
 * `#anchors` name a heading of the target (GitHub's slug rules). External URLs are not fetched.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', 'raw']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return SKIP_DIRS.has(name) ? [] : markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1] as string)));
}

/**
 * Inline links `[text](target)` outside code blocks and code spans, and code spans that are a
 * relative path (`../x/y.md`, `./z.ts`): a reader follows those too.
 */
function links(file: string): string[] {
  const prose = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  const spans = [...prose.matchAll(/`(\.\.?\/[\w./-]+)`/g)].map((m) => m[1] as string);
  const text = prose.replace(/`[^`\n]*`/g, '');
  return [...[...text.matchAll(/\[[^\]\n]*\]\(([^)\s]+)\)/g)].map((m) => m[1] as string), ...spans];
}

const files = markdownFiles(root);

describe('Markdown links', () => {
  it('finds the docs', () => {
    expect(files.map((f) => relative(root, f))).toEqual(expect.arrayContaining(['README.md', 'docs/lifecycle.md', 'bench/README.md']));
  });

  it.each(files.map((f) => [relative(root, f), f] as const))('%s: every relative link and anchor resolves', (_name, file) => {
    const broken: string[] = [];
    for (const target of links(file)) {
      if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
      const [path = '', anchor] = target.split('#');
      const targetFile = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      if (!targetFile.startsWith(root + '/') && targetFile !== root) broken.push(`${target} (outside the repository)`);
      else if (!existsSync(targetFile)) broken.push(`${target} (no such file)`);
      else if (anchor !== undefined && targetFile.endsWith('.md') && !anchors(targetFile).has(anchor)) broken.push(`${target} (no heading #${anchor})`);
    }
    expect(broken).toEqual([]);
  });

  it('the slug follows GitHub', () => {
    expect(slug('Scale out')).toBe('scale-out');
    expect(slug('The lifecycle contract, in short')).toBe('the-lifecycle-contract-in-short');
    expect(slug('`wsactor/testing`: kit')).toBe('wsactortesting-kit');
  });
});
