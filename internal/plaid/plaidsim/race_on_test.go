//go:build race

package plaidsim

// raceDetector reports whether the tests run under -race, where the
// heaviest test validates a sample of its pages instead of all of them.
const raceDetector = true
