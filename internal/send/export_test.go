package send

// CrashAfterSend makes d stop after its sends, recording nothing: a worker killed mid-batch.
func CrashAfterSend(d *Dispatcher) { d.crashAfterSend = true }
