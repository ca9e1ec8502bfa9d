// Package maintenance lays maintenance windows, written in local time, on the UTC week
// that Karpenter's disruption budgets are scheduled in. render compiles the stretches
// of the week outside the windows into budgets; validation checks the same result at
// every UTC offset the windows' time zones take (see Regimes), so that a policy that
// renders in winter also renders after a daylight-saving change. Pure: the caller
// passes the reference time.
package maintenance
