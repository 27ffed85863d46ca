package vault

import (
	"context"

	"github.com/credvault/vault/internal/serverlog"
)

// warnPlanLogging logs a warning for each way auto_explain would write
// values to the server log (see serverlog.AutoExplain.Problems).
func (c *Client) warnPlanLogging(ctx context.Context, q serverlog.Querier) error {
	ae, err := serverlog.ReadAutoExplain(ctx, q)
	if err != nil {
		return err
	}
	for _, p := range ae.Problems() {
		c.logger.WarnContext(ctx, "vault: "+p.String(), "schema", c.schema)
	}
	return nil
}
