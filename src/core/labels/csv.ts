/**
 * RFC 4180 CSV: comma-separated fields, optional double-quoted fields in which `""` is a quote
 * and commas and line breaks are literal, CRLF or LF records. A UTF-8 byte-order mark is
 * dropped (spreadsheet exports add one). Each record carries the physical line it started on so
 * errors can point at it.
 */

export interface CsvRecord {
  fields: string[];
  /** 1-based line number where the record starts. */
  line: number;
}

export class CsvError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`Line ${line}: ${message}`);
    this.name = 'CsvError';
  }
}

export function* parseCsv(text: string): Generator<CsvRecord> {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let field = '';
    let recordDone = false;
    while (!recordDone) {
      if (text[i] === '"') {
        // Quoted field.
        i++;
        for (;;) {
          if (i >= n) throw new CsvError('a quoted field is not closed (missing ").', startLine);
          const ch = text[i];
          if (ch === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (ch === '\n') line++;
          field += ch;
          i++;
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          throw new CsvError(`unexpected character ${JSON.stringify(text[i])} after a closing quote; quotes inside a quoted field are written "".`, line);
        }
      } else {
        while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          if (text[i] === '"') throw new CsvError('a quote (") inside an unquoted field; quote the whole field and write the quote as "".', line);
          field += text[i];
          i++;
        }
      }
      fields.push(field);
      field = '';
      if (i >= n) {
        recordDone = true;
      } else if (text[i] === ',') {
        i++;
        if (i >= n) fields.push('');
        if (i >= n) recordDone = true;
      } else {
        // Line break: CRLF, LF or lone CR.
        if (text[i] === '\r' && text[i + 1] === '\n') i++;
        i++;
        line++;
        recordDone = true;
      }
    }
    // A blank line is not a record.
    if (fields.length === 1 && fields[0] === '') continue;
    yield { fields, line: startLine };
  }
}

/** Quotes a field when it holds a comma, quote or line break. */
export function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
