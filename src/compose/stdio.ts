/** Standard output and error, as the one-shot commands write to them. */
export const STDIO = {
  write: (text: string | Buffer) => {
    process.stdout.write(text);
  },
  writeError: (text: string) => {
    process.stderr.write(text);
  },
};
