package views

// DevicesView is the devices page: every registered device, and for admins
// the register form and each device's drain, resume and revoke buttons.
type DevicesView struct {
	Rows    []DeviceRow
	IsAdmin bool
	CSRF    string
	Summary string            // "2 online, 1 offline"
	New     *NewDevice        // a device just registered, with its token shown once
	Form    DeviceForm        // what was typed when a registration was refused
	Errors  map[string]string // field → problem of a refused registration
	HasHub  bool              // false when the server runs no device hub
	Notice  string
}

// DeviceRow is one device on the devices page.
type DeviceRow struct {
	Name         string
	Status       string
	InFlight     int
	MaxConc      int
	Capabilities string
	Labels       string
	LastSeen     string
	SuccessRate  string // "98%" or "—"
	Latency      string // "120 ms" or "—"
}

// NewDevice is a device just registered.
type NewDevice struct {
	Name  string
	Token string
}

// DeviceForm is the register form's values.
type DeviceForm struct {
	Name, Capabilities, Labels string
}

// DeviceCommandsView is one device's recent commands.
type DeviceCommandsView struct {
	Device   DeviceRow
	Commands []DeviceCommandRow
}

// DeviceCommandRow is one command delivery.
type DeviceCommandRow struct {
	RunID    string
	StepID   string
	Attempt  int
	Delivery int
	Command  string
	Status   string
	ExitCode string
	Duration string
	Created  string
	Late     bool
	Error    string
}

// RoutingView is a device step's routing decision on the run page: which
// device, why, and every device the router looked at.
type RoutingView struct {
	Strategy   string
	Chosen     string
	Why        string
	Deliveries int
	Candidates []RoutingCandidateView
}

// RoutingCandidateView is one device the router considered.
type RoutingCandidateView struct {
	Device   string
	Eligible bool
	Reason   string
	Load     string
}

// LiveOutputView is a running device step's output so far.
type LiveOutputView struct {
	RunID, StepID  string
	Running        bool
	Device         string
	Stdout, Stderr string
}
