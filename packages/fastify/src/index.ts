export {
  fastifyAudit,
  type FastifyAudit,
  type FastifyAuditOptions,
  type FastifyAuditRoute,
  type FastifyResourceId,
  type FastifyRouterOptions,
} from './audit.ts';
