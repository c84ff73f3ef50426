// Headless test of the example (QT_QPA_PLATFORM=offscreen): runs mavftp's
// embedded server on a UDP loopback port and drives FtpWindow as a user
// would (type the URL, click Connect, expand a directory, Download, Cancel,
// Upload), then saves a screenshot made with QWidget::grab.
//
//   mavftp-qt-drive ROOT LOCALDIR UPLOAD_FILE SCREENSHOT.png
//
// ROOT must hold logs/flight-001.bin and blackbox.bin (large enough to
// cancel). The caller (tests/c_abi/packaging.rs) compares the bytes afterwards:
// LOCALDIR/flight-001.bin against ROOT/logs/flight-001.bin, ROOT/logs/ against
// UPLOAD_FILE, and checks that LOCALDIR/cancelled/ stayed empty.
#include <QApplication>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTest>
#include <QTreeWidget>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "ftpwindow.h"

namespace {

[[noreturn]] void fail(const QString &what) {
    std::fprintf(stderr, "FAIL: %s\n", qPrintable(what));
    std::exit(1);
}

void step(const QString &what) { std::printf("step: %s\n", qPrintable(what)); std::fflush(stdout); }

int freeUdpPort() {
    const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s < 0 || ::bind(s, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        ::getsockname(s, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
        fail("no UDP port");
    }
    ::close(s);
    return ntohs(a.sin_port);
}

template <class T> T *widget(QWidget &w, const char *name) {
    T *found = w.findChild<T *>(name);
    if (found == nullptr) {
        fail(QStringLiteral("no widget %1").arg(name));
    }
    return found;
}

QTreeWidgetItem *child(QTreeWidget *tree, QTreeWidgetItem *parent, const QString &name) {
    const int n = parent ? parent->childCount() : tree->topLevelItemCount();
    for (int i = 0; i < n; ++i) {
        QTreeWidgetItem *item = parent ? parent->child(i) : tree->topLevelItem(i);
        if (item->text(0) == name) {
            return item;
        }
    }
    fail(QStringLiteral("no tree entry %1").arg(name));
}

} // namespace

int main(int argc, char **argv) {
    QApplication app(argc, argv);
    const QStringList args = QApplication::arguments();
    if (args.size() != 5) {
        std::fprintf(stderr, "usage: mavftp-qt-drive ROOT LOCALDIR UPLOAD_FILE SCREENSHOT.png\n");
        return 2;
    }
    const QString root = args[1], localDir = args[2], uploadFile = args[3], screenshot = args[4];

    // The vehicle: mavftp's embedded server on loopback.
    int port = 0;
    mavftp::Link vehicleLink;
    std::error_code ec = mavftp::Result::Unknown;
    for (int attempt = 0; attempt < 5 && ec; ++attempt) {
        port = freeUdpPort();
        auto opened = mavftp::Link::open("udpin://127.0.0.1:" + std::to_string(port), 1, 1);
        ec = opened.first;
        vehicleLink = std::move(opened.second);
    }
    if (ec) {
        fail(QStringLiteral("vehicle link: %1").arg(QString::fromStdString(ec.message())));
    }
    auto [sec, server] = mavftp::Server::create(vehicleLink, root.toStdString());
    if (sec) {
        fail(QStringLiteral("server: %1").arg(QString::fromStdString(sec.message())));
    }

    FtpWindow window;
    window.show();
    auto *tree = widget<QTreeWidget>(window, "tree");
    auto *local = widget<QLineEdit>(window, "localDir");
    auto *progress = widget<QProgressBar>(window, "progress");

    QStringList listedDirs;
    QObject::connect(&window, &FtpWindow::listed, [&](const QString &dir, bool ok) {
        if (!ok) {
            fail(QStringLiteral("listing %1 failed: %2")
                     .arg(dir, widget<QLabel>(window, "status")->text()));
        }
        listedDirs << dir;
    });
    int finished = 0;
    bool lastOk = false;
    QString lastMessage;
    QObject::connect(&window, &FtpWindow::transferFinished, [&](bool ok, const QString &message) {
        ++finished;
        lastOk = ok;
        lastMessage = message;
        step(QStringLiteral("transfer finished: %1").arg(message));
    });
    auto waitListed = [&](const QString &dir) {
        if (!QTest::qWaitFor([&] { return listedDirs.contains(dir); }, 30000)) {
            fail(QStringLiteral("no listing of %1").arg(dir));
        }
        listedDirs.removeAll(dir);
    };
    auto waitFinished = [&](int count) {
        if (!QTest::qWaitFor([&] { return finished >= count; }, 60000)) {
            fail(QStringLiteral("transfer %1 never finished").arg(count));
        }
    };

    step(QStringLiteral("connect to udpout://127.0.0.1:%1").arg(port));
    widget<QLineEdit>(window, "url")->setText(QStringLiteral("udpout://127.0.0.1:%1").arg(port));
    QTest::mouseClick(widget<QPushButton>(window, "connect"), Qt::LeftButton);
    waitListed(QStringLiteral("/"));

    step(QStringLiteral("expand /logs"));
    QTreeWidgetItem *logs = child(tree, nullptr, QStringLiteral("logs"));
    tree->expandItem(logs);
    waitListed(QStringLiteral("/logs"));
    tree->expandItem(child(tree, nullptr, QStringLiteral("missions")));
    waitListed(QStringLiteral("/missions"));

    step(QStringLiteral("download /blackbox.bin and cancel it"));
    tree->setCurrentItem(child(tree, nullptr, QStringLiteral("blackbox.bin")));
    local->setText(localDir + QStringLiteral("/cancelled"));
    QTest::mouseClick(widget<QPushButton>(window, "download"), Qt::LeftButton);
    QTest::mouseClick(widget<QPushButton>(window, "cancel"), Qt::LeftButton);
    waitFinished(1);
    if (lastOk || !lastMessage.contains(QStringLiteral("cancelled"))) {
        fail(QStringLiteral("cancel did not cancel: %1").arg(lastMessage));
    }

    step(QStringLiteral("upload into /logs"));
    tree->setCurrentItem(logs);
    window.uploadFile(uploadFile); // what the Upload button does after its file dialog
    waitFinished(2);
    if (!lastOk) {
        fail(lastMessage);
    }
    waitListed(QStringLiteral("/logs"));

    step(QStringLiteral("download /logs/flight-001.bin"));
    logs = child(tree, nullptr, QStringLiteral("logs"));
    tree->setCurrentItem(child(tree, logs, QStringLiteral("flight-001.bin")));
    local->setText(localDir);
    QTest::mouseClick(widget<QPushButton>(window, "download"), Qt::LeftButton);
    waitFinished(3);
    if (!lastOk || progress->value() != progress->maximum()) {
        fail(QStringLiteral("download: %1").arg(lastMessage));
    }

    widget<QLineEdit>(window, "url")->deselect();
    if (!window.grab().save(screenshot)) {
        fail(QStringLiteral("cannot write %1").arg(screenshot));
    }
    step(QStringLiteral("screenshot %1").arg(screenshot));
    std::printf("drive ok\n");
    return 0;
}
