package celcond

// MapMethod returns a method whose request has two map<string, string>
// fields, m and n, for the benchmarks of package celcond_test.
var MapMethod = mapMethod
