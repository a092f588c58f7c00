export {
  expressAudit,
  type ExpressAudit,
  type ExpressAuditOptions,
  type ExpressActionOptions,
  type ExpressRouterOptions,
} from './audit.ts';
