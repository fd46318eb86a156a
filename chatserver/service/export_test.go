package service

// FillHashing takes every password-hashing slot of s, as a burst of sign-ins
// would, until release is called.
func FillHashing(s *Service) (release func()) {
	for range cap(s.hashes) {
		s.hashes <- struct{}{}
	}
	return func() {
		for range cap(s.hashes) {
			<-s.hashes
		}
	}
}
