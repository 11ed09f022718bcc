/**
 * Reading the files a model manifest names, with errors that name the file and the field:
 * the person reading them is setting up a GPU host from a README and needs the line to fix.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

export class ManifestError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    message: string,
  ) {
    super(`${file}: ${field ? `${field}: ` : ''}${message}`);
    this.name = 'ManifestError';
  }
}

export function zodFail(file: string, err: z.ZodError): never {
  const issue = err.issues[0];
  const field = issue.path.join('.');
  throw new ManifestError(file, field, issue.message);
}

export function readText(file: string, referencedBy?: { file: string; field: string }): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (referencedBy) throw new ManifestError(referencedBy.file, referencedBy.field, `file ${file} cannot be read (${code})`);
    throw new ManifestError(file, '', `cannot be read (${code})`);
  }
}

export function requireFile(manifestFile: string, field: string, file: string, kind: 'file' | 'dir' = 'file'): string {
  if (!existsSync(file)) throw new ManifestError(manifestFile, field, `${kind === 'dir' ? 'folder' : 'file'} ${file} does not exist`);
  const isDir = statSync(file).isDirectory();
  if (kind === 'dir' && !isDir) throw new ManifestError(manifestFile, field, `${file} is not a folder`);
  if (kind === 'file' && isDir) throw new ManifestError(manifestFile, field, `${file} is a folder; a file is expected`);
  return file;
}

export function parseYamlFile(file: string, text: string): unknown {
  try {
    return parseYaml(text);
  } catch (err) {
    throw new ManifestError(file, '', `is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}

export function parseJsonFile(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ManifestError(file, '', `is not valid JSON: ${(err as Error).message}`);
  }
}
