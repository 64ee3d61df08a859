// yargs turns a number option given a non-number (`--lr abc`) into NaN and lets it through; the error would
// then surface far away (an optimizer's eps check). This names the flag and the text instead.
import { SeqsamError } from '../errors.js';

// The text given for `--key` (or `--key=value`) on the command line, for the message.
function givenText(argv: readonly string[], key: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${key}`) return argv[i + 1];
    if (argv[i]!.startsWith(`--${key}=`)) return argv[i]!.slice(key.length + 3);
  }
  return undefined;
}

// Throws ERR_ARGUMENT for the first option whose value (or one of whose values) is NaN.
export function checkNumberFlags(parsed: Record<string, unknown>, argv: readonly string[]): void {
  for (const [key, value] of Object.entries(parsed)) {
    if (key === '_' || key === '$0' || /[A-Z]/.test(key)) continue; // camel-case twins repeat the kebab keys
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'number' && Number.isNaN(v))) {
      const text = givenText(argv, key);
      throw new SeqsamError('ERR_ARGUMENT', `--${key}: ${text === undefined ? 'a value' : `"${text}"`} is not a number`);
    }
  }
}
