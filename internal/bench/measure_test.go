package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentileNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i))
	}
	require.Equal(t, time.Duration(100), Percentile(d, 50))
	require.Equal(t, time.Duration(198), Percentile(d, 99))
	require.Equal(t, time.Duration(200), Percentile(d, 100))
	require.Equal(t, time.Duration(1), Percentile(d[:1], 99))
	require.Zero(t, Percentile(nil, 50))
}

func TestCombinePoolsCalls(t *testing.T) {
	a := summarize([]time.Duration{3, 1}, 10)
	b := summarize([]time.Duration{2, 4}, 30)
	b.CPU = CPUTimes{Client: 2, Server: 6}
	c := Combine(a, b)
	require.Equal(t, 4, c.N)
	require.Equal(t, time.Duration(40), c.Elapsed)
	require.Equal(t, []time.Duration{1, 2, 3, 4}, c.Latencies)
	require.Equal(t, time.Duration(2), c.P50)
	require.Equal(t, CPUTimes{Client: 0, Server: 1}, c.CPUPerCall())
	require.Equal(t, time.Duration(2), c.CPU.Total()/time.Duration(c.N))
}

func TestRunMakesEachCallOnce(t *testing.T) {
	const n = 1000
	var seen [n]atomic.Int32
	s, err := Run(context.Background(), func(_ context.Context, i int) error {
		seen[i].Add(1)
		return nil
	}, 8, n, 0)
	require.NoError(t, err)
	require.Equal(t, n, s.N)
	for i := range seen {
		require.Equal(t, int32(1), seen[i].Load(), "call %d", i)
	}
}

func TestRunStopsAtFirstError(t *testing.T) {
	_, err := Run(context.Background(), func(_ context.Context, i int) error {
		if i == 10 {
			return ErrExhausted
		}
		return nil
	}, 4, 1000, 0)
	require.ErrorIs(t, err, ErrExhausted)
}

func TestSpreadOf(t *testing.T) {
	require.Equal(t, Spread{Median: 2, Min: 1, Max: 9, N: 3}, SpreadOf([]float64{9, 1, 2}))
	require.Equal(t, Spread{Median: 2.5, Min: 1, Max: 9, N: 4}, SpreadOf([]float64{9, 1, 2, 3}))
	require.Zero(t, SpreadOf(nil))
}
