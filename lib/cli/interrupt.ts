// Ctrl-C during a long command: the first press aborts the work cleanly (training saves a resumable
// checkpoint), a second press exits at once.
export function interruptSignal(what: string): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\nseqsam: stopping ${what} (press Ctrl-C again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, release: () => process.off('SIGINT', onSigint) };
}
