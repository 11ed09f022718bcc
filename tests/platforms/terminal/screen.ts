/**
 * A small terminal emulator for tests: it applies what a program writes (text, CR, LF, and the
 * cursor and erase sequences readline uses) to a grid of rows, so a test can assert what a user
 * would see on screen rather than which bytes were sent. Colour sequences are ignored.
 */
export class Screen {
  private rows: string[][] = [[]];
  private row = 0;
  private col = 0;
  /** The cursor sits past the last column: the next character starts a new row. */
  private pendingWrap = false;

  constructor(readonly columns: number) {}

  write(data: string): void {
    for (let i = 0; i < data.length; i++) {
      const ch = data[i];
      if (ch === '\x1b') {
        i = this.escape(data, i);
      } else if (ch === '\r') {
        this.col = 0;
        this.pendingWrap = false;
      } else if (ch === '\n') {
        // A terminal's output processing turns LF into CR LF.
        this.moveTo(this.row + 1, 0);
      } else {
        if (this.pendingWrap) this.moveTo(this.row + 1, 0);
        this.line(this.row)[this.col] = ch;
        if (this.col === this.columns - 1) this.pendingWrap = true;
        else this.col++;
      }
    }
  }

  /** The visible rows, trailing spaces and empty rows at the end removed. */
  text(): string[] {
    const lines = this.rows.map((cells) => Array.from(cells, (c) => c ?? ' ').join('').trimEnd());
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines;
  }

  cursor(): { row: number; col: number } {
    return { row: this.row, col: this.col };
  }

  private line(row: number): string[] {
    while (this.rows.length <= row) this.rows.push([]);
    return this.rows[row];
  }

  private moveTo(row: number, col: number): void {
    this.row = Math.max(0, row);
    this.col = Math.min(Math.max(0, col), this.columns - 1);
    this.pendingWrap = false;
    this.line(this.row);
  }

  /** Applies one escape sequence starting at `start`; returns the index of its last character. */
  private escape(data: string, start: number): number {
    if (data[start + 1] !== '[') return start + 1;
    let end = start + 2;
    while (end < data.length && !/[A-Za-z]/.test(data[end])) end++;
    const params = data.slice(start + 2, end).split(';');
    const n = (fallback: number) => (params[0] === '' || params[0] === undefined ? fallback : Number(params[0]));
    switch (data[end]) {
      case 'A':
        this.moveTo(this.row - n(1), this.col);
        break;
      case 'B':
        this.moveTo(this.row + n(1), this.col);
        break;
      case 'C':
        this.moveTo(this.row, this.col + n(1));
        break;
      case 'D':
        this.moveTo(this.row, this.col - n(1));
        break;
      case 'G':
        this.moveTo(this.row, n(1) - 1);
        break;
      case 'K': {
        const cells = this.line(this.row);
        if (n(0) === 0) cells.length = Math.min(cells.length, this.col);
        else if (n(0) === 2) cells.length = 0;
        break;
      }
      case 'J':
        if (n(0) === 0) {
          this.line(this.row).length = Math.min(this.line(this.row).length, this.col);
          this.rows.length = this.row + 1;
        }
        break;
      default:
        // Colours (m) and anything else leave the grid as it is.
        break;
    }
    return end;
  }
}
