/**
 * The error every model-file loader throws: it names the file and the field, because the person
 * reading it is setting up a GPU host from a README and needs to know which line to fix.
 */
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
