"""A stand-in for the SMS, WhatsApp, e-mail and webhook providers behind one HTTP gateway: it
accepts what the notifications sender POSTs and keeps a durable record of every request, which
demos, tests and the fault campaign's checker read to see what was really sent."""
