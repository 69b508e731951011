//! A TCP proxy a test can cut and restore, to take a service's database away and
//! give it back without touching the shared Postgres server.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

pub struct CuttableProxy {
    pub address: SocketAddr,
    open: Arc<AtomicBool>,
    /// Where new connections go: a restarted service listens on a new port.
    upstream: Arc<Mutex<SocketAddr>>,
    cuts: watch::Sender<u64>,
}

impl CuttableProxy {
    pub async fn start(upstream: SocketAddr) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let address = listener.local_addr().expect("proxy address");
        let open = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let accepting = open.clone();
        let cut_signal = cuts.clone();
        let upstream = Arc::new(Mutex::new(upstream));
        let target = upstream.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue; // dropping the socket refuses the connection
                }
                let mut cut = cut_signal.subscribe();
                let upstream = *target.lock().expect("proxy upstream");
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        CuttableProxy {
            address,
            open,
            upstream,
            cuts,
        }
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|generation| *generation += 1);
    }

    /// Sends new connections to `upstream` from now on.
    pub fn retarget(&self, upstream: SocketAddr) {
        *self.upstream.lock().expect("proxy upstream") = upstream;
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}
