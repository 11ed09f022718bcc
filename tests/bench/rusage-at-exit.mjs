// Loaded with `node --import` into each export the dataset bench runs, so that the command
// measured is `confab dataset export` exactly as a user runs it: at exit it reports the
// process's peak RSS and CPU time on stderr.
process.on('exit', () => {
  const cpu = process.cpuUsage();
  process.stderr.write(`RUSAGE ${JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
});
