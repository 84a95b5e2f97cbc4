import { ErrorCode, VectorsyncError } from '../errors.js';

/** What a tenant may be called wherever a client names one: in an API key or a request header. */
export const tenantNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/** Throws INVALID_REQUEST naming `value` and where it came from unless it is a valid tenant name. */
export function assertTenantName(value: string, source: string): void {
  if (!tenantNamePattern.test(value)) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `${source} "${value}" must be 1-128 letters, digits or _ . : - (starting with a letter or digit)`,
      { details: { tenant: value } },
    );
  }
}
