export {
  honoAudit,
  type AuditEnv,
  type AuditVariables,
  type HonoAudit,
  type HonoAuditOptions,
  type HonoActionOptions,
  type HonoRouterOptions,
} from './audit.ts';
