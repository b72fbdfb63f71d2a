import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

// The log and metrics back ends the cluster runs beside the node, as host
// processes bound to the pod gateway (pods reach them there, the host too):
// Loki in single-binary mode with filesystem storage, and Prometheus with
// Kubernetes service discovery on endpoints, scraping the sidecars through
// the Service port named promtail-http (the scrape the seeds describe).

export interface LokiSetup {
  args: string[];
  url: string;
}

export function lokiSetup(dir: string, address: string, httpPort: number, grpcPort: number, options: { multiTenant?: boolean } = {}): LokiSetup {
  const data = join(dir, 'loki');
  mkdirSync(data, { recursive: true });
  const config = {
    // Multi-tenant: every push and query names its tenant (X-Scope-OrgID).
    auth_enabled: options.multiTenant === true,
    server: { http_listen_address: address, http_listen_port: httpPort, grpc_listen_address: '127.0.0.1', grpc_listen_port: grpcPort, log_level: 'warn' },
    common: {
      instance_addr: '127.0.0.1',
      path_prefix: data,
      storage: { filesystem: { chunks_directory: join(data, 'chunks'), rules_directory: join(data, 'rules') } },
      replication_factor: 1,
      ring: { kvstore: { store: 'inmemory' } },
    },
    schema_config: { configs: [{ from: '2020-10-24', store: 'tsdb', object_store: 'filesystem', schema: 'v13', index: { prefix: 'index_', period: '24h' } }] },
    // Test lines carry the time they were written: accept whatever arrives.
    limits_config: { reject_old_samples: false, allow_structured_metadata: true },
    analytics: { reporting_enabled: false },
  };
  const file = join(dir, 'loki.yaml');
  writeFileSync(file, stringify(config));
  return { args: [`-config.file=${file}`], url: `http://${address}:${httpPort}` };
}

export interface PrometheusSetup {
  args: string[];
  url: string;
}

export function prometheusSetup(dir: string, address: string, port: number, api: { server: string; caFile: string; token: string }): PrometheusSetup {
  const data = join(dir, 'prometheus');
  mkdirSync(data, { recursive: true });
  const tokenFile = join(dir, 'prometheus.token');
  writeFileSync(tokenFile, api.token, { mode: 0o600 });
  const config = {
    global: { scrape_interval: '2s', scrape_timeout: '1s', evaluation_interval: '2s' },
    scrape_configs: [
      {
        job_name: 'promtail-sidecars',
        kubernetes_sd_configs: [
          {
            role: 'endpoints',
            api_server: api.server,
            tls_config: { ca_file: api.caFile },
            authorization: { credentials_file: tokenFile },
          },
        ],
        relabel_configs: [
          { source_labels: ['__meta_kubernetes_endpoint_port_name'], action: 'keep', regex: 'promtail-http' },
          { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
          { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
          { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
        ],
      },
    ],
  };
  const file = join(dir, 'prometheus.yaml');
  writeFileSync(file, stringify(config));
  return {
    args: [`--config.file=${file}`, `--storage.tsdb.path=${data}`, `--web.listen-address=${address}:${port}`, '--log.level=warn'],
    url: `http://${address}:${port}`,
  };
}
