/**
 * Every ```ts / ```typescript block in README.md and docs/*.md must compile under the project's
 * strict options, as its own module, with `wsactor` resolved to src/index.ts.
 *
 * Blocks are served to one TypeScript program from memory, at virtual paths inside
 * test/docs/fixtures/ (nothing is written to disk): the repo's package.json makes them ES
 * modules (top-level await works) and a block's relative imports (`./chat.js`) resolve to the
 * fixtures there. Only the blocks are checked, not the src they import (that is `tsc`'s job).
 *
 * A block that is deliberately a fragment is exempted by an HTML comment on the line before
 * its fence, with a reason: `<!-- not-checked: shows only the options object -->`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(root, 'test/docs/fixtures');

interface CodeBlock {
  /** The markdown file, relative to the repo root. */
  readonly doc: string;
  /** 1-based line, in `doc`, of the block's first code line. */
  readonly line: number;
  readonly code: string;
  /** The reason of a `<!-- not-checked: ... -->` marker; undefined when the block is checked. */
  readonly exempt: string | undefined;
}

const TS_LANGS = new Set(['ts', 'typescript', 'mts']);
const MARKER = /^\s*<!--\s*not-checked:(.*?)-->\s*$/;

/** The TypeScript blocks of one markdown text, plus problems with its not-checked markers. */
function extractBlocks(doc: string, text: string): { blocks: CodeBlock[]; problems: string[] } {
  const lines = text.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  const problems: string[] = [];
  let pending: { line: number; reason: string } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const lineText = lines[i] ?? '';
    const marker = MARKER.exec(lineText);
    if (marker) {
      if (pending) problems.push(`${doc}:${pending.line}: not-checked marker is not followed by a ts block`);
      const reason = (marker[1] ?? '').trim();
      if (!reason) problems.push(`${doc}:${i + 1}: not-checked marker without a reason`);
      pending = { line: i + 1, reason };
      continue;
    }
    const open = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/.exec(lineText);
    if (!open) {
      if (pending && lineText.trim() !== '') {
        problems.push(`${doc}:${pending.line}: not-checked marker is not followed by a ts block`);
        pending = undefined;
      }
      continue;
    }
    const indent = open[1]?.length ?? 0;
    const fence = open[2] ?? '```';
    const lang = (open[3] ?? '').toLowerCase();
    const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !close.test(lines[j] ?? ''); j++) {
      const codeLine = lines[j] ?? '';
      body.push(codeLine.slice(Math.min(indent, codeLine.length - codeLine.trimStart().length)));
    }
    if (TS_LANGS.has(lang)) {
      blocks.push({ doc, line: i + 2, code: body.join('\n'), exempt: pending?.reason });
    } else if (pending) {
      problems.push(`${doc}:${pending.line}: not-checked marker is not followed by a ts block`);
    }
    pending = undefined;
    i = j;
  }
  if (pending) problems.push(`${doc}:${pending.line}: not-checked marker is not followed by a ts block`);
  return { blocks, problems };
}

function docFiles(): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs];
}

/** `wsactor` and its export subpaths, mapped from dist's .d.ts to the .ts in src. */
function packagePaths(): Record<string, string[]> {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    name: string;
    exports: Record<string, { types: string }>;
  };
  const paths: Record<string, string[]> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const specifier = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.replace(/^\.\//, '')}`;
    const source = target.types.replace(/^\.\/dist\//, './src/').replace(/\.d\.ts$/, '.ts');
    paths[specifier] = [path.join(root, source)];
  }
  return paths;
}

function compilerOptions(paths: Record<string, string[]>): ts.CompilerOptions {
  const configPath = path.join(root, 'tsconfig.json');
  const read = ts.readConfigFile(configPath, (file) => ts.sys.readFile(file));
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, configPath);
  return { ...parsed.options, noEmit: true, declaration: false, sourceMap: false, paths };
}

/** Type-checks the blocks in one program; returns one `doc:line:col TSnnnn message` per error. */
function checkBlocks(blocks: readonly CodeBlock[]): string[] {
  const options = compilerOptions(packagePaths());
  const virtual = new Map<string, { block: CodeBlock; text: string }>();
  for (const block of blocks) {
    const name = `${block.doc.replace(/[/\\]/g, '_')}-L${block.line}.ts`;
    // `export {}` keeps a block without imports a module, so blocks never share a scope.
    virtual.set(path.join(fixtures, name), { block, text: `${block.code}\nexport {};\n` });
  }
  const real = ts.createCompilerHost(options, true);
  const host: ts.CompilerHost = {
    ...real,
    fileExists: (file) => virtual.has(path.resolve(file)) || real.fileExists(file),
    readFile: (file) => virtual.get(path.resolve(file))?.text ?? real.readFile(file),
    getSourceFile: (file, languageVersion, onError, shouldCreate) => {
      const entry = virtual.get(path.resolve(file));
      return entry
        ? ts.createSourceFile(file, entry.text, languageVersion, true)
        : real.getSourceFile(file, languageVersion, onError, shouldCreate);
    },
  };
  const program = ts.createProgram({ rootNames: [...virtual.keys()], options, host });

  const format = (d: ts.Diagnostic): string => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
    const entry = d.file ? virtual.get(path.resolve(d.file.fileName)) : undefined;
    if (!d.file || d.start === undefined) return `TS${d.code} ${message}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    const where = entry
      ? `${entry.block.doc}:${entry.block.line + line}:${character + 1}`
      : `${path.relative(root, d.file.fileName)}:${line + 1}:${character + 1}`;
    return `${where} TS${d.code} ${message}`;
  };
  const diagnostics = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
  for (const file of virtual.keys()) {
    const source = program.getSourceFile(file);
    if (!source) throw new Error(`block ${file} is missing from the program`);
    diagnostics.push(...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source));
  }
  return diagnostics.map(format);
}

describe('markdown block extraction', () => {
  it('finds ts blocks, skips other fences, and honours not-checked markers', () => {
    const md = [
      '# t', //                                   1
      '```sh', //                                 2
      '```ts inside a sh block is not a block', // 3
      '```', //                                   4
      '<!-- not-checked: a fragment -->', //      5
      '```ts', //                                 6
      'frag(', //                                 7
      '```', //                                   8
      '````typescript', //                        9
      'const a = 1;', //                          10
      '```', //                                   11
      '````', //                                  12
      '<!-- not-checked: -->', //                 13
      'prose', //                                 14
    ].join('\n');
    const { blocks, problems } = extractBlocks('x.md', md);
    expect(blocks).toEqual([
      { doc: 'x.md', line: 7, code: 'frag(', exempt: 'a fragment' },
      { doc: 'x.md', line: 10, code: 'const a = 1;\n```', exempt: undefined },
    ]);
    expect(problems).toEqual([
      'x.md:13: not-checked marker without a reason',
      'x.md:13: not-checked marker is not followed by a ts block',
    ]);
  });

  it('reports errors at the markdown line and column', () => {
    const errors = checkBlocks([
      { doc: 'x.md', line: 40, code: "import { createServer } from 'wsactor';\ncreateServer(1);", exempt: undefined },
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^x\.md:41:14 TS\d+ Type '1' has no properties/);
  });
});

describe('TypeScript blocks in README.md and docs/*.md', () => {
  it('all compile under the strict tsconfig, with wsactor resolved to src', () => {
    const all: CodeBlock[] = [];
    const problems: string[] = [];
    for (const doc of docFiles()) {
      const found = extractBlocks(doc, readFileSync(path.join(root, doc), 'utf8'));
      all.push(...found.blocks);
      problems.push(...found.problems);
    }
    const checked = all.filter((block) => block.exempt === undefined);
    expect(problems, problems.join('\n')).toEqual([]);
    // Not vacuous: README.md alone has two checked blocks today.
    expect(checked.length).toBeGreaterThan(0);
    expect(checked.filter((block) => block.doc === 'README.md').length).toBeGreaterThan(0);

    const errors = checkBlocks(checked);
    expect(errors, `\n${errors.join('\n')}\n`).toEqual([]);
  });
});
